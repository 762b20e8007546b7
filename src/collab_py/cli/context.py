"""What every ``collab`` command shares: settings, keys, the deployment, services, output and readable errors."""

from __future__ import annotations

import functools
import json
import os
import select
import shlex
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from web3 import Web3

from collab_py.chain.deploy import Deployment
from collab_py.chain.errors import ContractError
from collab_py.chain.transactor import Transactor
from collab_py.domain.crypto import EncryptionKey
from collab_py.domain.documents import DocumentStore
from collab_py.domain.keys import Keyring
from collab_py.domain.presentation import amount, local_time, money, parse_amount, plain, refusal_text

__all__ = ["amount", "local_time", "money", "parse_amount"]
from collab_py.domain.types import contract_number
from collab_py.exceptions import CollabError
from collab_py.files import MAX_DOCUMENT_BYTES, MAX_SMALL_FILE_BYTES, read_bounded, write_private
from collab_py.redaction import scrub
from collab_py.services.reader import ChainReader
from collab_py.settings import CollabSettings

#: The exit status of a command whose reader closed the pipe (``collab ... | head``): the one a shell reports for a
#: process killed by SIGPIPE (128 + 13), as git, grep or cat are there, so that a script (``set -o pipefail``) tells it
#: as it does for them; 0 would say everything was written, 1 is a refusal.
BROKEN_PIPE_EXIT = 141


def reader_gone() -> typer.Exit:
    """The quiet end of a command whose reader closed standard output: the output goes to /dev/null from here (what
    is still buffered is flushed there at exit, without a second error); returns the exit to raise."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return typer.Exit(BROKEN_PIPE_EXIT)


def stdout_closed() -> bool:
    """Whether standard output is a pipe whose reader is gone (polling it reports an error)."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file: a test's capture
        return False
    poller = select.poll()
    poller.register(descriptor, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


class PipeConsole(Console):
    """rich's console, ending as :func:`reader_gone` when its reader closed the pipe (rich exits with 1)."""

    def on_broken_pipe(self) -> None:
        """Raises the exit of :func:`reader_gone`."""
        raise reader_gone()


console = PipeConsole()
#: Advice shown under an error, by error name.
HINTS = {
    "NodeUnreachable": "start a node (`collab dev up`) or pass --rpc-url (COLLAB_RPC_URL)",
    "InsufficientFunds": "this account has no ether: on a development node `collab dev fund ADDRESS`, elsewhere send "
    "it ether from a funded account",
    "ERC20InsufficientAllowance": "the treasury has not approved the escrow: the payer's treasury key runs "
    "`collab treasury approve`",
    "ERC20InsufficientBalance": "the treasury holds too few deposits (`collab treasury show ORG`): the asset's admin "
    "mints them (`collab token mint ORG AMOUNT`)",
    "AccessControlUnauthorizedAccount": "this key may not do that on the asset: minting takes the asset admin's key "
    "(--key)",
    "ManifestError": "deploy first (collab deploy) or pass --manifest (COLLAB_MANIFEST)",
    "ChainMismatch": "the node and the manifest are of different networks: check that COLLAB_RPC_URL (--rpc-url) and "
    "COLLAB_MANIFEST (--manifest) point at the same one",
    "ContractNotDeployed": "give the manifest of this network's deployment (--manifest, COLLAB_MANIFEST), or deploy on "
    "it (collab deploy)",
    "NodeBehind": "wait until the node has synced (its block number passes the deployment block), or give the URL "
    "of a node that has (--rpc-url, COLLAB_RPC_URL)",
    "ManifestExists": "pass --force to replace it, or write the manifest elsewhere",
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
    "TermsMismatch": "nothing was signed: the e-contract differs from what Party B registered; ask Party B for the "
    "document it registered, or decline with `collab contract cancel NUMBER --reason TEXT`",
    "EContractError": "give the NUMBER.econtract.json file Party B's `collab contract propose` wrote, unchanged",
    "AssetNotAccepted": "governance lists the assets contracts may be paid in (`collab asset list`, `collab asset "
    "accept`)",
    "UnexpectedContractStatus": "see where the contract stands with `collab contract show NUMBER`",
    "StageResultMismatch": "the result given is not the one Party B submitted for this stage",
    "PaymentExceedsUnpaid": "see what is still unpaid with `collab contract show NUMBER`",
    "UnexpectedVoucherStatus": "see where the payment stands with `collab payment show NUMBER SEQ`",
    "InvalidExpiry": "the key's lifetime (--lifetime) is at least the escrow's minKeyLifetime and at most 366 days",
    "InvalidAssignee": "the assignee is an active enterprise other than the payer and the payee",
    "KeyAccountMismatch": "nothing was redeemed: the payment key pays another bank account than your application; "
    "ask Party A's finance to reclaim it after expiry, or apply again",
    "PaymentKeyExpired": "the key expired: Party A's finance may reclaim the funds (`collab payment reclaim`)",
    "ReleaseRefused": "nothing was sent; after the release deadline (`collab payment show`) payer and beneficiary "
    "may settle without the institution (`collab payment settle`)",
    "ReleaseDeadlineNotReached": "the institution may still release it; see the deadline with `collab payment show`",
    "SettlementDirectionRefused": "alone, a party may settle only in its own favour (when the other's org is "
    "suspended); otherwise send the other's signature (`collab payment sign-settlement`)",
    "OrgSuspended": "governance suspended the org (`collab org reinstate`)",
    "EnforcedPause": "the institution paused the escrow (`collab escrow unpause`)",
    "ReorgTooDeep": "the chain reorganised deeper than the listener's window: check the network before restarting",
    "LedgerTampered": "the journal was changed outside the services: keep the database for investigation (collab "
    "ledger verify --json; collab listen --forensics to run on it anyway); correct books only by reversal entries",
    "DatabaseError": "check COLLAB_LEDGER_URL (sqlite:///file.db or postgresql+psycopg://user:pass@host/db)",
    "FeeError": "set the gas price transactions pay, in wei (COLLAB_GAS_PRICE; 0 on a zero-gas chain), or "
    "COLLAB_ZERO_GAS=auto",
    "KeystoreNotPrivate": "keystores must be readable by their owner only: run the chmod above",
    "PassphraseFileNotPrivate": "a passphrase file must be readable by its owner only: run the chmod above",
    "WeakKeystore": "a keystore must use at least eth-account's default key derivation",
    "FileTooLarge": "check the path: it names a file larger than collab reads for this argument",
    "NotARegularFile": "give the path of a file (a device or socket is refused)",
}
#: Most bytes of a bank account file or of standard input (an account is at most 256 characters).
ACCOUNT_FILE_LIMIT = 4096
#: Longest bank account, in characters (``crypto.BankAccount``).
ACCOUNT_MAX_LENGTH = 256


class InvalidInput(CollabError):
    """A command-line value is malformed (address, hex, file); an amount raises
    :class:`~collab_py.domain.presentation.InvalidAmount`."""


#: A contract number argument.
Number = Annotated[str, typer.Argument(help="The contract number, e.g. HT-2026-0001.")]
#: The reason for a refusal, rejection or cancellation: its keccak256 goes on chain.
Reason = Annotated[str, typer.Option(help="Why, in words: its hash goes on chain (keep the text).")]

#: Whether a deploying command may replace an existing manifest file.
Force = Annotated[bool, typer.Option("--force", help="Replace an existing manifest file.")]

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
            self._w3 = self.settings.connect()
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

    def decimals(self, asset: str) -> int:
        """Decimals of the ERC-20 ``asset``, read once per invocation."""
        return self.deployment.decimals(parse_address(asset))

    def refusal_text(self, refusal: ContractError) -> str:
        """A contract's refusal as people read it (:func:`~collab_py.domain.presentation.refusal_text`), its amounts
        in currency units when this invocation attached the deployment."""
        decimals = None if self._deployment is None else ChainReader(self._deployment).decimals_for(refusal)
        return refusal_text(refusal, decimals)

    def documents(self) -> DocumentStore:
        """The org's document store (``documents/`` beside the keystore folder)."""
        return DocumentStore(self.settings.keystore_dir.parent / "documents")


state = CliState()

P = ParamSpec("P")
R = TypeVar("R")


def readable_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Shows a collab error as one line with advice and exit code 1; any other error too, unless --debug, which
    prints the traceback (scrubbed of credentials) instead. A closed output pipe ends the command quietly
    (:func:`reader_gone`): its output is flushed here, where that is seen; a broken pipe elsewhere is an error."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = command(*args, **kwargs)
            sys.stdout.flush()
            return result
        except (typer.Exit, typer.Abort):
            raise
        except Exception as error:
            if isinstance(error, BrokenPipeError) and stdout_closed():
                raise reader_gone() from None  # not another pipe (the node's socket): that is an error
            if state.debug:
                sys.stderr.write(scrub("".join(traceback.format_exception(error))))
                raise typer.Exit(1) from None
            raise fail(error) from None

    return wrapper


def describe(error: BaseException) -> str:
    """The message of ``error`` fit to show: scrubbed of credentials (:func:`collab_py.redaction.scrub`), and for a
    pydantic validation error, what is wrong with each field without the input (it may be a bank account)."""
    if isinstance(error, ValidationError):
        return scrub(f"invalid {error.title}: {problems(error)}")
    return scrub(str(error))


def fail(error: BaseException) -> typer.Exit:
    """Prints ``error`` as one line (and a hint) to stderr; returns the exit (code 1) to raise."""
    name = type(error).__name__
    text = scrub(state.refusal_text(error)) if isinstance(error, ContractError) else f"{name}: {describe(error)}"
    if not isinstance(error, CollabError):
        text += " (run with --debug for the traceback)"
    # the text quotes user input: escaped, so that "[/]" in a contract number is shown, not parsed as markup
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(text)}", highlight=False, markup=True)
    hint = (
        dated_hint(error)
        or HINTS.get(name)
        or next((HINTS[base.__name__] for base in type(error).__mro__ if base.__name__ in HINTS), None)
    )
    if hint:
        Console(stderr=True, soft_wrap=True).print(f"hint: {hint}", highlight=False)
    return typer.Exit(1)


def dated_hint(error: BaseException) -> str | None:
    """Advice that names the moment an error waits for: when a payment key expires (in the user's time zone)."""
    expiry = error.args_by_name.get("expiry") if isinstance(error, ContractError) else None
    if type(error).__name__ != "PaymentKeyNotExpired" or not isinstance(expiry, int):
        return None
    return f"the key has not expired yet: it expires at {local_time(expiry):%Y-%m-%d %H:%M:%S %Z}; reclaim after that"


def problems(error: ValidationError) -> str:
    """Where and what is wrong, never the value given (it may be a bank account)."""
    found = error.errors(include_url=False, include_input=False, include_context=False)
    return "; ".join(f"{'.'.join(map(str, problem['loc'])) or 'value'}: {problem['msg']}" for problem in found)


def warn(text: str) -> None:
    """Prints a warning line to stderr."""
    Console(stderr=True, soft_wrap=True).print(f"[bold yellow]warning:[/] {escape(text)}", highlight=False)


def show(
    record: BaseModel | dict[str, Any] | list[Any], title: str | None = None, *, next_step: str | None = None
) -> None:
    """Prints a record as a table, or as JSON with --json; amounts (:class:`~decimal.Decimal`) and times
    (:class:`~datetime.datetime`) as exact decimal strings and ISO 8601. ``next_step`` (a command for whoever acts
    next) is printed under the table."""
    data = record.model_dump(mode="json") if isinstance(record, BaseModel) else record
    if state.as_json:
        print(json.dumps(plain(data), indent=2))
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
    if next_step:
        console.print(f"next: {next_step}", highlight=False, markup=False, soft_wrap=True)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        return f"{value:,f}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, list | tuple):
        return "\n".join(_cell(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}={_cell(item)}" for key, item in value.items())
    return str(value)


def command(*words: str | Path) -> str:
    """A ``collab`` command line, quoted for a POSIX shell (copy-pasteable)."""
    return " ".join(["collab", *(shlex.quote(str(word)) for word in words)])


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


def read_file(path: Path, limit: int = MAX_SMALL_FILE_BYTES, what: str = "file") -> bytes:
    """A file's bytes, at most ``limit`` of them (:class:`~collab_py.files.FileTooLarge` beyond, and
    :class:`~collab_py.files.NotARegularFile` for a device), with a named error when it cannot be read."""
    try:
        return read_bounded(path, limit, what)
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror}") from None


def read_document(path: Path) -> bytes:
    """A document's bytes (e-contract, stage result): :func:`read_file` with the documents' cap."""
    return read_file(path, MAX_DOCUMENT_BYTES, "document")


def read_text(path: Path) -> str:
    """A UTF-8 text file's content, with a named error when it cannot be read or is not UTF-8."""
    try:
        return read_file(path).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text") from None


def write_file(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` with mode 0600, refusing to replace a file that holds something else."""
    if path.exists() and read_file(path) != data:
        raise InvalidInput(f"{path} exists: remove it or pass --out to write elsewhere")
    try:
        write_private(path, data)
    except OSError as error:
        raise InvalidInput(f"cannot write {path}: {error.strerror}") from None


def bank_account(account_file: Path | None, account: str | None) -> str:
    """The bank account from ``account_file`` (``-``: standard input, a hidden prompt on a terminal), or from the
    command line with a warning (other users see it). Never echoed: errors say what is wrong, not what was read."""
    if account_file is not None and account is not None:
        raise InvalidInput("give the bank account once: --bank-account-file or --bank-account")
    if account is not None:
        warn(
            "--bank-account puts the bank account on the command line, where other users of this machine see it "
            "(ps, /proc) and the shell history keeps it: use --bank-account-file PATH, or - for standard input"
        )
        text = account
    elif account_file is None:
        raise InvalidInput(
            "where should the money go? give --bank-account-file PATH (the account on one line), or - to read it "
            "from standard input"
        )
    elif str(account_file) == "-":
        stdin = typer.get_binary_stream("stdin")
        if stdin.isatty():
            text = typer.prompt("Bank account", hide_input=True, err=True)
        else:
            text = _account_text(stdin.read(ACCOUNT_FILE_LIMIT + 1), "standard input")
    else:
        try:
            with account_file.open("rb") as stream:
                raw = stream.read(ACCOUNT_FILE_LIMIT + 1)
        except OSError as error:
            raise InvalidInput(f"cannot read {account_file}: {error.strerror}") from None
        text = _account_text(raw, str(account_file))
    text = text.strip()
    if not text:
        raise InvalidInput("the bank account is empty")
    if "\n" in text or "\r" in text:
        raise InvalidInput("the bank account must be one line")
    if len(text) > ACCOUNT_MAX_LENGTH:
        raise InvalidInput(f"the bank account is longer than {ACCOUNT_MAX_LENGTH} characters")
    return text


def _account_text(raw: bytes, source: str) -> str:
    if len(raw) > ACCOUNT_FILE_LIMIT:
        raise InvalidInput(f"{source} holds more than {ACCOUNT_FILE_LIMIT} bytes: give the bank account alone")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"the bank account in {source} is not UTF-8 text") from None


def token_decimals() -> int:
    """Decimals of the deployment's asset."""
    return state.deployment.decimals()


def contract_decimals(number: str) -> int:
    """Decimals of the asset contract ``number`` is paid in (the deployment's asset's for an unknown contract)."""
    _, asset = state.deployment.registry.functions.agreementOf(contract_number(number)).call()
    return state.decimals(asset) if int(asset, 16) else token_decimals()
