"""Service settings from ``COLLAB_*`` environment variables, an optional ``.env`` file, or keyword overrides."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from collab_py.chain.manifest import Manifest
from collab_py.domain.keys import Keyring, resolve_passphrase
from collab_py.exceptions import CollabError
from collab_py.files import MAX_SMALL_FILE_BYTES, size_text

ENV_PREFIX = "COLLAB_"
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
    receipt_timeout: float = Field(default=120.0, gt=0)
    poa: bool | None = None  # None: detect from the chain

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

    @field_validator("poa", mode="before")
    @classmethod
    def _auto(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() == "auto" else value

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
