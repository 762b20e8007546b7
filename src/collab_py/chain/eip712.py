"""EIP-712 typed data the contracts verify, one definition each, and signing with a local key.

The type strings must match the contracts' typehashes; ``tests/test_eip712.py`` checks every digest against the
contract's own ``*Digest`` view.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import coincurve
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

#: EIP-712 domain names of the verifying contracts (version "1").
REGISTRY_DOMAIN = "collab ContractRegistry"
ESCROW_DOMAIN = "collab PaymentEscrow"

DIGITAL_CODE = [
    {"name": "contractNo", "type": "bytes32"},
    {"name": "orgId", "type": "uint32"},
    {"name": "docHash", "type": "bytes32"},
]
STAGE_FEEDBACK = [
    {"name": "contractNo", "type": "bytes32"},
    {"name": "orgId", "type": "uint32"},
    {"name": "docHash", "type": "bytes32"},
    {"name": "stageIndex", "type": "uint8"},
    {"name": "specHash", "type": "bytes32"},
    {"name": "resultHash", "type": "bytes32"},
]
ASSIGNMENT_CONFIRMATION = [
    {"name": "voucherId", "type": "bytes32"},
    {"name": "assigneeOrg", "type": "uint32"},
    {"name": "bankAccountHash", "type": "bytes32"},
]
INVOICE = [
    {"name": "voucherId", "type": "bytes32"},
    {"name": "invoiceHash", "type": "bytes32"},
]


def domain(name: str, chain_id: int, verifying_contract: ChecksumAddress) -> dict[str, Any]:
    """An EIP-712 domain bound to a chain and a contract."""
    return {"name": name, "version": "1", "chainId": chain_id, "verifyingContract": verifying_contract}


def typed_data(
    domain_data: dict[str, Any], primary_type: str, fields: list[dict[str, str]], message: dict[str, Any]
) -> dict[str, Any]:
    """A full EIP-712 typed-data document."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            primary_type: fields,
        },
        "primaryType": primary_type,
        "domain": domain_data,
        "message": message,
    }


def digital_code(
    chain_id: int, registry: ChecksumAddress, contract_no: bytes, org_id: int, doc_hash: bytes
) -> dict[str, Any]:
    """The digital code a party signs for an e-contract (S2.1, S2.3)."""
    message = {"contractNo": contract_no, "orgId": org_id, "docHash": doc_hash}
    return typed_data(domain(REGISTRY_DOMAIN, chain_id, registry), "DigitalCode", DIGITAL_CODE, message)


def stage_feedback(
    chain_id: int,
    registry: ChecksumAddress,
    *,
    contract_no: bytes,
    org_id: int,
    doc_hash: bytes,
    stage_index: int,
    spec_hash: bytes,
    result_hash: bytes,
) -> dict[str, Any]:
    """Party B's signed feedback for one stage result (S3.1)."""
    message = {
        "contractNo": contract_no,
        "orgId": org_id,
        "docHash": doc_hash,
        "stageIndex": stage_index,
        "specHash": spec_hash,
        "resultHash": result_hash,
    }
    return typed_data(domain(REGISTRY_DOMAIN, chain_id, registry), "StageFeedback", STAGE_FEEDBACK, message)


def assignment_confirmation(
    chain_id: int, escrow: ChecksumAddress, voucher_id: bytes, assignee_org: int, bank_account_hash: bytes
) -> dict[str, Any]:
    """The payee's confirmation that a presented payment key pays ``assignee_org`` (S6.3)."""
    message = {"voucherId": voucher_id, "assigneeOrg": assignee_org, "bankAccountHash": bank_account_hash}
    return typed_data(
        domain(ESCROW_DOMAIN, chain_id, escrow), "AssignmentConfirmation", ASSIGNMENT_CONFIRMATION, message
    )


def invoice(chain_id: int, escrow: ChecksumAddress, voucher_id: bytes, invoice_hash: bytes) -> dict[str, Any]:
    """The payee's signature over the e-invoice of payment ``voucher_id`` (S8.3)."""
    message = {"voucherId": voucher_id, "invoiceHash": invoice_hash}
    return typed_data(domain(ESCROW_DOMAIN, chain_id, escrow), "Invoice", INVOICE, message)


def sign_typed(account: LocalAccount, data: dict[str, Any]) -> bytes:
    """Signs EIP-712 typed data with a local key; returns the 65-byte signature (``r ‖ s ‖ v``, v 27 or 28), the
    one eth-account gives (RFC 6979 nonces), at a fifth of its cost."""
    signature = coincurve.PrivateKey(bytes(account.key)).sign_recoverable(typed_digest(data), hasher=None)
    return signature[:64] + bytes((signature[64] + 27,))


def typed_digest(data: dict[str, Any]) -> bytes:
    """The 32-byte EIP-712 digest of typed data (what the contracts' ``*Digest`` views return).

    Encoded here for the flat structs of atomic types that this module defines (``tests/test_eip712.py`` checks
    it against eth-account's ``encode_typed_data`` and the contracts); anything else is refused.
    """
    types, primary = data["types"], data["primaryType"]
    domain_hash = _domain_separator(tuple(sorted(data["domain"].items())))
    struct_hash = _struct_hash(primary, types[primary], data["message"])
    return keccak(b"\x19\x01" + domain_hash + struct_hash)


_DOMAIN_FIELDS = (
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
)


@functools.lru_cache(maxsize=64)
def _domain_separator(items: tuple[tuple[str, Any], ...]) -> bytes:
    return _struct_hash("EIP712Domain", _DOMAIN_FIELDS, dict(items))


def _struct_hash(name: str, fields: Sequence[dict[str, str]], message: dict[str, Any]) -> bytes:
    if set(message) != {field["name"] for field in fields}:
        raise ValueError(f"{name}: the message's fields are not the type's")
    signature = f"{name}({','.join(field['type'] + ' ' + field['name'] for field in fields)})"
    words = [_word(field["type"], message[field["name"]]) for field in fields]
    return keccak(keccak(text=signature) + b"".join(words))


def _word(kind: str, value: Any) -> bytes:
    """One field, ABI-encoded as EIP-712 encodes atomic and string fields."""
    if kind == "string":
        return keccak(text=str(value))
    if kind == "address":
        return bytes(12) + bytes.fromhex(to_checksum_address(value)[2:])
    if kind.startswith("uint") and isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < 2 ** int(kind[4:] or 256):
            raise ValueError(f"{value} is out of range for {kind}")
        return value.to_bytes(32, "big")
    if kind == "bytes32" and isinstance(value, bytes | bytearray) and len(value) == 32:
        return bytes(value)
    raise ValueError(f"{value!r} is not a {kind} this module encodes")
