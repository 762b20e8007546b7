"""Named Python exceptions for every refusal of the contracts, and the decoder of revert data.

Each custom Solidity error (``error WrongDepartment(address account, ...)``) is a subclass of :class:`ContractError`
with the same name, importable from this module::

    from collab_py.chain.errors import WrongDepartment

    try:
        registry_client.confirm_stage(...)
    except WrongDepartment as refusal:
        print(refusal.args_by_name["account"])

The classes are generated from the compiled ABIs into :mod:`collab_py.chain.contract_errors` (``make errors``, see
:mod:`collab_py.chain.errors_gen`); ``tests/test_errors.py`` fails while that module differs from the contracts.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address

from collab_py.chain import contract_errors
from collab_py.chain.contract_errors import *  # noqa: F403 (every contract error, by name)
from collab_py.chain.contract_errors import BY_SELECTOR, Argument
from collab_py.exceptions import ContractError, Panic, RevertedWithReason, UnknownRevert

__all__ = ["ContractError", "ErrorDecoder", "Panic", "RevertedWithReason", "UnknownRevert", "default_decoder"]
__all__ += contract_errors.__all__

_ERROR_STRING_SELECTOR = function_signature_to_4byte_selector("Error(string)")
_PANIC_SELECTOR = function_signature_to_4byte_selector("Panic(uint256)")


class ErrorDecoder:
    """Maps revert data to named exceptions: the errors of ``by_selector`` (4-byte selector -> class and arguments),
    ``Error(string)`` reasons and panics."""

    def __init__(self, by_selector: Mapping[bytes, tuple[type[ContractError], tuple[Argument, ...]]]) -> None:
        self._by_selector = dict(by_selector)

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
        error, arguments = known
        values = abi_decode([kind for _, kind, _ in arguments], payload)
        by_name = {argument[0]: _normalise(argument, value) for argument, value in zip(arguments, values, strict=True)}
        return error(by_name)


def _normalise(argument: Argument, value: Any) -> Any:
    """Addresses checksummed, enums by name (``Department.FINANCE``), everything else as decoded."""
    _, kind, enum = argument
    if kind == "address":
        return to_checksum_address(value)
    if enum is not None:
        return enum(value)
    return value


@cache
def default_decoder() -> ErrorDecoder:
    """Decoder for every error of the project's contracts."""
    return ErrorDecoder(BY_SELECTOR)
