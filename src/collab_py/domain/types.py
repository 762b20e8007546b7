"""Contract numbers and payment voucher ids as the contracts encode them (see ``contracts/Settlement.sol``)."""

from __future__ import annotations

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from collab_py.exceptions import CollabError


class InvalidContractNumber(CollabError, ValueError):
    """A contract number must be 1 to 32 bytes of UTF-8 text (a ValueError too, for pydantic validators)."""


def contract_number(text: str) -> bytes:
    """Encodes a contract number (at most 32 UTF-8 bytes) as the ``bytes32`` the contracts use."""
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: a command-line argument that was not UTF-8
        raw = b""
    if not raw or len(raw) > 32 or b"\x00" in raw:
        raise InvalidContractNumber(f"contract number must be 1-32 UTF-8 bytes without NUL, got {text!r}")
    return raw.ljust(32, b"\x00")


def contract_number_text(raw: bytes) -> str:
    """Decodes a ``bytes32`` contract number back to its text."""
    return raw.rstrip(b"\x00").decode("utf-8")


def payment_voucher_id(contract_no: bytes, seq: int) -> bytes:
    """Id of payment ``seq`` of a contract: ``keccak256(abi.encode(contractNo, seq))`` as in ``Settlement``."""
    return keccak(abi_encode(["bytes32", "uint8"], [contract_no, seq]))


def as_contract_no(number: str | bytes) -> bytes:
    """A contract number given as text or as its ``bytes32``, as the ``bytes32``."""
    return contract_number(number) if isinstance(number, str) else number


def payment_seq(contract_no: bytes, voucher_id: bytes) -> int:
    """The sequence number (1 to 255) of payment ``voucher_id`` of a contract; ValueError if it is none of them."""
    for seq in range(1, 256):
        if payment_voucher_id(contract_no, seq) == voucher_id:
            return seq
    raise ValueError(f"voucher 0x{voucher_id.hex()} is no payment of contract {contract_number_text(contract_no)!r}")
