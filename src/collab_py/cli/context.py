"""What every ``collab`` command shares: settings, keys, the deployment, services, output and readable errors."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Context, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import typer
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from web3 import Web3

from collab_py.chain.deploy import Deployment
from collab_py.chain.errors import ContractError
from collab_py.chain.transactor import Transactor, connect
from collab_py.domain.crypto import EncryptionKey
from collab_py.domain.documents import DocumentStore
from collab_py.domain.keys import Keyring
from collab_py.domain.models import jsonable
from collab_py.exceptions import CollabError
from collab_py.settings import CollabSettings

console = Console()
#: Advice shown under an error, by error name.
HINTS = {
    "NodeUnreachable": "start a node or pass --rpc-url (COLLAB_RPC_URL)",
    "ManifestError": "deploy first (collab deploy) or pass --manifest (COLLAB_MANIFEST)",
    "WrongPassphrase": "check COLLAB_PASSPHRASE_FILE or the variable named by COLLAB_PASSPHRASE_ENV",
    "EmptyPassphrase": "the keystore passphrase is empty: it comes from the file COLLAB_PASSPHRASE_FILE names, else "
    "the variable COLLAB_PASSPHRASE_ENV names (COLLAB_PASSPHRASE), else a prompt; give a non-empty one",
    "PassphraseUnavailable": "give the keystore passphrase in COLLAB_PASSPHRASE_FILE or in the variable "
    "COLLAB_PASSPHRASE_ENV names (COLLAB_PASSPHRASE), or run in a terminal to be prompted",
    "KeystoreError": "create the key with `collab keys new NAME` or pass --keys (COLLAB_KEYSTORE_DIR)",
    "NotAMember": "the key is not bound to any org: ask governance to `collab org bind` it",
    "WrongDepartment": "use the keystore of the department that owns this step (--keys)",
    "WrongParty": "this step belongs to the other party of the contract",
    "UnknownContract": "check the contract number (`collab contract show NUMBER`)",
    "UnknownContractError": "check the contract number (`collab contract show NUMBER`)",
    "UnknownPaymentError": "check the payment's sequence number (`collab contract show NUMBER`)",
    "PaymentKeyExpired": "the key expired: Party A's finance may reclaim the funds (`collab payment reclaim`)",
    "OrgSuspended": "governance suspended the org (`collab org reinstate`)",
    "EnforcedPause": "the institution paused the escrow (`collab escrow unpause`)",
    "ReorgTooDeep": "the chain reorganised deeper than the listener's window: check the network before restarting",
    "LedgerTampered": "the journal was changed outside the services: keep the database for investigation (collab "
    "ledger verify --json; collab listen --forensics to run on it anyway); correct books only by reversal entries",
    "DatabaseError": "check COLLAB_LEDGER_URL (sqlite:///file.db or postgresql+psycopg://user:pass@host/db)",
}


class InvalidInput(CollabError):
    """A command-line value is malformed (amount, address, hex, file)."""


#: Context settings of a command whose arguments may be negative numbers: ``-5`` is then a value, which the
#: command refuses with :class:`InvalidInput`, not an unknown option.
NEGATIVE_VALUES: dict[str, Any] = {"ignore_unknown_options": True}


@dataclass
class CliState:
    """Options of the root command, shared by every sub-command of one invocation."""

    overrides: dict[str, Any] = field(default_factory=dict)
    as_json: bool = False
    debug: bool = False
    _settings: CollabSettings | None = None
    _w3: Web3 | None = None
    _deployment: Deployment | None = None

    @property
    def settings(self) -> CollabSettings:
        """Settings from the environment, overridden by the command line."""
        if self._settings is None:
            self._settings = CollabSettings.load(**self.overrides)
        return self._settings

    @property
    def w3(self) -> Web3:
        """Connection to the configured node."""
        if self._w3 is None:
            self._w3 = connect(self.settings.rpc_url, poa=self.settings.poa)
        return self._w3

    @property
    def deployment(self) -> Deployment:
        """The deployment of the configured manifest on the connected node."""
        if self._deployment is None:
            self._deployment = Deployment.attach(self.w3, self.settings.load_manifest())
        return self._deployment

    def reset(self) -> None:
        """Forgets the settings, connection and deployment of a previous invocation (in-process runs)."""
        self._settings, self._w3, self._deployment = None, None, None

    def keyring(self) -> Keyring:
        """The keystore folder."""
        return self.settings.keyring()

    def account(self, name: str) -> LocalAccount:
        """Signing key ``name`` from the keystore folder (``governance``, ``business``, ``finance``, ``operator``)."""
        return self.keyring().account(name, self.settings.passphrase(prompt=True))

    def encryption_key(self) -> EncryptionKey:
        """The org's encryption key (keystore ``encryption``)."""
        return self.keyring().encryption_key("encryption", self.settings.passphrase(prompt=True))

    def transactor(self, name: str) -> Transactor:
        """A transactor for key ``name``."""
        return Transactor(self.w3, self.account(name), receipt_timeout=self.settings.receipt_timeout)

    def documents(self) -> DocumentStore:
        """The org's document store (``documents/`` beside the keystore folder)."""
        return DocumentStore(self.settings.keystore_dir.parent / "documents")


state = CliState()

P = ParamSpec("P")
R = TypeVar("R")


def readable_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Shows a collab error as one line with advice and exit code 1; any other error too, unless --debug."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as error:
            if state.debug:
                raise
            raise fail(error) from None

    return wrapper


def fail(error: BaseException) -> typer.Exit:
    """Prints ``error`` as one line (and a hint) to stderr; returns the exit (code 1) to raise."""
    name = type(error).__name__
    text = str(error) if isinstance(error, ContractError) else f"{name}: {error}"
    if not isinstance(error, CollabError):
        text += " (run with --debug for the traceback)"
    # the text quotes user input: escaped, so that "[/]" in a contract number is shown, not parsed as markup
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(text)}", highlight=False, markup=True)
    hint = HINTS.get(name) or next(
        (HINTS[base.__name__] for base in type(error).__mro__ if base.__name__ in HINTS), None
    )
    if hint:
        Console(stderr=True, soft_wrap=True).print(f"hint: {hint}", highlight=False)
    return typer.Exit(1)


def show(record: BaseModel | dict[str, Any] | list[Any], title: str | None = None) -> None:
    """Prints a record as a table, or as JSON with --json."""
    data = record.model_dump(mode="json") if isinstance(record, BaseModel) else record
    if state.as_json:
        print(json.dumps(jsonable(data), indent=2))
        return
    if isinstance(data, list):
        for item in data:
            show(item, title)
        return
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in data.items():
        table.add_row(key, _cell(value))
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "\n".join(_cell(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}={_cell(item)}" for key, item in value.items())
    return str(value)


def parse_amount(text: str, decimals: int) -> int:
    """A decimal amount in currency units (``1000.50``) as token units; refuses what the token cannot hold."""
    try:
        value = Decimal(text.replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise InvalidInput(f"malformed amount {text!r}: use a number such as 1000.50") from None
    try:  # exactly: with the default 28 digits of precision, 10000000000.000000000000000001 (18 decimals) loses a unit
        units = value.scaleb(decimals, Context(prec=max(28, len(value.as_tuple().digits))))
    except ArithmeticError:  # sNaN (InvalidOperation), an exponent beyond the decimal context (Overflow)
        raise InvalidInput(f"invalid amount {text!r}: positive, at most {decimals} decimals") from None
    if not value.is_finite() or units <= 0 or units != units.to_integral_value() or units >= 2**128:
        raise InvalidInput(f"invalid amount {text!r}: positive, at most {decimals} decimals")
    return int(units)


def parse_address(text: str) -> ChecksumAddress:
    """A checksummed address; refuses anything else."""
    if not Web3.is_address(text):
        raise InvalidInput(f"malformed address {text!r}: expected 0x and 40 hex digits")
    return Web3.to_checksum_address(text)


def parse_hex(text: str, length: int | None = None) -> bytes:
    """Hex bytes (``0x`` optional), of ``length`` bytes when given."""
    try:
        raw = bytes.fromhex(text.strip().removeprefix("0x"))
    except ValueError:
        raise InvalidInput(f"malformed hex {text[:20]!r}...") from None
    if length is not None and len(raw) != length:
        raise InvalidInput(f"expected {length} bytes of hex, got {len(raw)}")
    return raw


def read_file(path: Path) -> bytes:
    """A file's bytes, with a named error when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror}") from None


def token_decimals() -> int:
    """Decimals of the deployment's asset."""
    return int(state.deployment.asset.functions.decimals().call())
