"""Service settings from ``COLLAB_*`` environment variables, an optional ``.env`` file, or keyword overrides."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict
from web3 import Web3

from collab_py.chain.manifest import Manifest
from collab_py.chain.transactor import FeePolicy, connect
from collab_py.domain.keys import Keyring, resolve_passphrase
from collab_py.exceptions import CollabError
from collab_py.files import MAX_SMALL_FILE_BYTES, size_text

ENV_PREFIX = "COLLAB_"
#: SQLite's page cache per connection (MiB) by default: a cache that holds the store's indexes made a 10,000-voucher
#: backfill about 7 % faster than one of 4–8 MiB (docs/operations.md).
SQLITE_CACHE_MIB = 64
_RPC_SCHEMES = ("http", "https", "ws", "wss")
_MESSAGES = {
    "string_too_short": "must not be empty",
    "path_type": "must be a path",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_parsing": "must be a number",
    "bool_parsing": "must be true, false or auto",
    "bool_type": "must be true, false or auto",
}
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


class SettingsError(CollabError):
    """A setting has an invalid value."""


class CollabSettings(BaseSettings):
    """Where the chain, the deployment, the keys and the ledger are, and how patiently to wait for receipts."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
        validate_default=True,
        hide_input_in_errors=True,  # URLs carry passwords and API keys
    )

    rpc_url: str = "http://127.0.0.1:8545"
    manifest: Path = Path("deployments/local.json")
    keystore_dir: Path = Path("keys")
    passphrase_file: Path | None = None
    passphrase_env: str = Field(default=f"{ENV_PREFIX}PASSPHRASE", min_length=1)
    org_id: int | None = Field(default=None, ge=1, le=2**32 - 1)
    ledger_url: str = Field(default="sqlite:///collab-ledger.db", min_length=1)
    confirmations: int = Field(default=1, ge=0)
    #: Blocks a listener remembers to find where a reorganised chain forked; a deeper reorg halts it.
    reorg_window: int = Field(default=128, ge=1)
    receipt_timeout: float = Field(default=120.0, gt=0)
    #: A listener's SQLite page cache per connection, in MiB: memory it holds for good, against backfill speed.
    sqlite_cache_mib: int = Field(default=SQLITE_CACHE_MIB, ge=1, le=65_536)
    poa: bool | None = None  # None: detect from the chain
    #: Legacy gas price every transaction pays, in wei (0 on a zero-gas chain); None: read the fees from the node.
    gas_price: int | None = Field(default=None, ge=0)
    #: True: pay nothing (gas price or EIP-1559 fees 0); False: never; None (auto): when the chain's base fee is 0.
    zero_gas: bool | None = None

    _manifest: Manifest | None = PrivateAttr(default=None)

    @field_validator("rpc_url")
    @classmethod
    def _rpc_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in _RPC_SCHEMES or not parts.netloc:
            raise ValueError("must be an http(s):// or ws(s):// URL")
        return value

    @field_validator("receipt_timeout")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number of seconds")
        return value

    @field_validator("poa", "zero_gas", mode="before")
    @classmethod
    def _auto(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() == "auto" else value

    @model_validator(mode="after")
    def _fees_agree(self) -> CollabSettings:
        if self.zero_gas is True and self.gas_price:
            raise ValueError(f"COLLAB_ZERO_GAS=true and COLLAB_GAS_PRICE={self.gas_price} contradict each other")
        return self

    def fee_policy(self) -> FeePolicy:
        """How transactions pay for gas (:attr:`gas_price`, :attr:`zero_gas`)."""
        return FeePolicy(gas_price=self.gas_price, zero_gas=self.zero_gas)

    def connect(self, rpc_url: str | None = None) -> Web3:
        """A client for :attr:`rpc_url` (or ``rpc_url``) honouring :attr:`poa` and the fee settings."""
        return connect(rpc_url or self.rpc_url, poa=self.poa, fees=self.fee_policy())

    @classmethod
    def load(cls, **overrides: Any) -> CollabSettings:
        """Settings from the environment and ``.env``, with ``overrides`` on top; :class:`SettingsError` if invalid."""
        unknown = sorted(k for k in overrides if not k.startswith("_") and k not in cls.model_fields)
        if unknown:
            raise SettingsError(f"unknown settings: {', '.join(unknown)}")
        env_file = overrides.get("_env_file", cls.model_config.get("env_file"))
        if isinstance(env_file, str | Path):
            _check_env_file(Path(env_file))
        try:
            return cls(**overrides)
        except ValidationError as error:
            raise SettingsError("; ".join(_describe(e) for e in error.errors())) from None
        except UnicodeDecodeError:  # python-dotenv reads the .env file as UTF-8
            raise SettingsError(f"the settings file {env_file} is not UTF-8 text") from None

    def load_manifest(self) -> Manifest:
        """The deployment manifest at :attr:`manifest`, read once per settings object."""
        if self._manifest is None:
            self._manifest = Manifest.load(self.manifest)
        return self._manifest

    def passphrase(self, prompt: bool = True) -> str:
        """The keystore passphrase from :attr:`passphrase_file`, the variable :attr:`passphrase_env`, or a prompt.

        The variable is read from the process environment only, not from ``.env``.
        """
        return resolve_passphrase(file=self.passphrase_file, env=self.passphrase_env, prompt=prompt)

    def keyring(self) -> Keyring:
        """The org's keys in :attr:`keystore_dir`."""
        return Keyring(self.keystore_dir)


def _check_env_file(path: Path) -> None:
    """Refuses a settings file larger than a settings file can sensibly be (python-dotenv reads it whole);
    pydantic-settings reads only regular files, so a device there is ignored, as a missing file is."""
    with contextlib.suppress(OSError):
        if path.is_file() and path.stat().st_size > MAX_SMALL_FILE_BYTES:
            raise SettingsError(f"the settings file {path} is larger than {size_text(MAX_SMALL_FILE_BYTES)}")


def _describe(error: ErrorDetails) -> str:
    """One readable line per invalid setting, naming its environment variable and never quoting its value."""
    name = f"{ENV_PREFIX}{str(error['loc'][0]).upper()}" if error["loc"] else "settings"
    context = error.get("ctx") or {}
    if error["type"] in _BOUNDS:
        bound = next(iter(context.values()), "?")
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"{name}: must be {_BOUNDS[error['type']]} {bound}"
    if error["type"] == "value_error":
        return f"{name}: {context.get('error', error['msg'])}"
    if error["type"] in _MESSAGES:
        return f"{name}: {_MESSAGES[error['type']]}"
    message = error["msg"]
    return f"{name}: {message[:1].lower()}{message[1:]}"
