"""Contract numbers and payment voucher ids as the contracts encode them (see ``contracts/Settlement.sol``)."""

from __future__ import annotations

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from collab_py.exceptions import CollabError


class InvalidContractNumber(CollabError, ValueError):
    """A contract number must be 1 to 32 bytes of UTF-8 text (a ValueError too, for pydantic validators)."""


def contract_number(text: str) -> bytes:
    """Encodes a contract number (at most 32 UTF-8 bytes) as the ``bytes32`` the contracts use; ``0x`` and 64 hex
    digits (how :func:`contract_number_text` shows a number that is not text) is taken as the ``bytes32`` itself."""
    if len(text) == 66 and text.startswith("0x"):
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            pass
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: a command-line argument that was not UTF-8
        raw = b""
    if not raw or len(raw) > 32 or b"\x00" in raw:
        raise InvalidContractNumber(f"contract number must be 1-32 UTF-8 bytes without NUL, got {text!r}")
    return raw.ljust(32, b"\x00")


def new_contract_number(text: str) -> bytes:
    """As :func:`contract_number`, for a contract about to be proposed: also one segment of a URL path (no ``/``,
    not ``.`` or ``..``), since the platform and links address a contract by its number."""
    raw = contract_number(text)
    shown = contract_number_text(raw)  # as links show it: also a number given as 0x and 64 hex digits
    if "/" in shown or shown in (".", ".."):
        raise InvalidContractNumber(
            f"contract number must not contain '/' or be '.' or '..' (it is a URL segment), got {text!r}"
        )
    return raw


def contract_number_text(raw: bytes) -> str:
    """Decodes a ``bytes32`` contract number back to its text; one that is not UTF-8 text (the chain accepts any
    ``bytes32``) is shown as ``0x`` hex rather than refused."""
    try:
        return raw.rstrip(b"\x00").decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + raw.hex()


def payment_voucher_id(contract_no: bytes, seq: int) -> bytes:
    """Id of payment ``seq`` of a contract: ``keccak256(abi.encode(contractNo, seq))`` as in ``Settlement``."""
    return keccak(abi_encode(["bytes32", "uint8"], [contract_no, seq]))


def as_contract_no(number: str | bytes) -> bytes:
    """A contract number given as text or as its ``bytes32``, as the ``bytes32``."""
    return contract_number(number) if isinstance(number, str) else number
