"""The base of every error collab_py raises, and of every refusal of the contracts."""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any, ClassVar


class CollabError(Exception):
    """Base of every error raised by collab_py: the CLI shows these as one readable line."""


class ContractError(CollabError):
    """A contract refused a call or transaction with a custom error; subclasses are named after the error (one
    class per error of the contracts, in :mod:`collab_py.chain.errors`)."""

    error_name: ClassVar[str] = "ContractError"

    def __init__(self, args_by_name: Mapping[str, Any] | None = None, *, reason: str | None = None) -> None:
        self.args_by_name: dict[str, Any] = dict(args_by_name or {})
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.reason is not None:
            return f"{self.error_name}: {self.reason}"
        inner = ", ".join(f"{key}={_show(value)}" for key, value in self.args_by_name.items())
        return f"{self.error_name}({inner})"


class RevertedWithReason(ContractError):
    """The call reverted with a plain ``Error(string)`` reason (e.g. a non-OpenZeppelin token)."""

    error_name = "RevertedWithReason"


class Panic(ContractError):
    """The call hit a Solidity panic (overflow, division by zero, ...); ``code`` is the panic code."""

    error_name = "Panic"


class UnknownRevert(ContractError):
    """The call reverted with data that matches no known error (or none at all)."""

    error_name = "UnknownRevert"


def _show(value: Any) -> str:
    if isinstance(value, IntEnum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)
