"""Named Python exceptions for every refusal of the contracts.

Each custom Solidity error (``error WrongDepartment(address account, ...)``) becomes a subclass of
:class:`ContractError` with the same name, importable from this module::

    from collab_py.chain.errors import WrongDepartment

    try:
        registry_client.confirm_stage(...)
    except WrongDepartment as refusal:
        print(refusal.args_by_name["account"])

Classes are created on first use from the compiled ABIs, so the Python side can never drift from the contracts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum
from functools import cache
from typing import Any, ClassVar

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import collapse_if_tuple, function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address

from collab_py.chain.enums import ENUMS
from collab_py.exceptions import CollabError

#: Contracts whose ABIs declare every error our transactions can revert with (including OpenZeppelin's).
ERROR_SOURCES = ("CollabRegistry", "PaymentEscrow", "DepositToken")

_ERROR_STRING_SELECTOR = function_signature_to_4byte_selector("Error(string)")
_PANIC_SELECTOR = function_signature_to_4byte_selector("Panic(uint256)")


class ContractError(CollabError):
    """A contract refused a call or transaction with a custom error; subclasses are named after the error."""

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


@cache
def error_class(name: str) -> type[ContractError]:
    """The exception class for custom error ``name`` (one class per name, shared by all contracts)."""
    return type(name, (ContractError,), {"error_name": name, "__module__": __name__})


class ErrorDecoder:
    """Maps revert data to named exceptions using the custom errors declared in a set of ABIs."""

    def __init__(self, abis: Iterable[list[dict[str, Any]]]) -> None:
        self._by_selector: dict[bytes, tuple[str, list[str], list[str], list[str]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "error":
                    continue
                inputs = item["inputs"]
                types = [collapse_if_tuple(arg) for arg in inputs]
                selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
                names = [arg["name"] or f"arg{index}" for index, arg in enumerate(inputs)]
                kinds = [arg.get("internalType", arg["type"]) for arg in inputs]
                self._by_selector[selector] = (item["name"], types, names, kinds)

    @property
    def error_names(self) -> frozenset[str]:
        """Names of every custom error this decoder knows."""
        return frozenset(known[0] for known in self._by_selector.values())

    def decode(self, data: bytes | str | None) -> ContractError:
        """Builds the named exception for revert ``data`` (hex string or bytes)."""
        raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else (data or b"")
        selector, payload = raw[:4], raw[4:]
        if selector == _ERROR_STRING_SELECTOR:
            (reason,) = abi_decode(["string"], payload)
            return RevertedWithReason(reason=reason)
        if selector == _PANIC_SELECTOR:
            (code,) = abi_decode(["uint256"], payload)
            return Panic({"code": code})
        known = self._by_selector.get(selector)
        if known is None:
            return UnknownRevert(reason=f"revert data 0x{raw.hex()}" if raw else "no revert data")
        name, types, names, kinds = known
        values = abi_decode(types, payload)
        return error_class(name)(
            {key: _normalise(kind, value) for key, kind, value in zip(names, kinds, values, strict=True)}
        )


def _normalise(internal_type: str, value: Any) -> Any:
    """Addresses checksummed, enums by name (``Department.FINANCE``), everything else as decoded."""
    if internal_type == "address":
        return to_checksum_address(value)
    if internal_type.startswith("enum "):
        enum = ENUMS.get(internal_type.rsplit(".", 1)[-1].removeprefix("enum "))
        return enum(value) if enum is not None else value
    return value


@cache
def default_decoder() -> ErrorDecoder:
    """Decoder for every error of the project's contracts."""
    from collab_py.chain.build import load_artifact  # late: the build needs the toolchain, which needs no decoder

    return ErrorDecoder(load_artifact(name).abi for name in ERROR_SOURCES)


def __getattr__(name: str) -> type[ContractError]:
    """``from collab_py.chain.errors import WrongDepartment``: the class of any error the contracts declare."""
    if name[:1].isupper() and name in default_decoder().error_names:
        return error_class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
