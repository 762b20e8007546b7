"""EIP-712 typed data the contracts verify, one definition each, and signing with a local key.

The type strings must match the contracts' typehashes; ``tests/test_eip712.py`` checks every digest against the
contracts' own ``*Digest`` views and against eth-account's ``encode_typed_data``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import coincurve
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

#: EIP-712 domain names of the verifying contracts, version :data:`VERSION`.
REGISTRY_DOMAIN = "collab CollabRegistry"
ESCROW_DOMAIN = "collab PaymentEscrow"
VERSION = "2"

#: A struct type's fields, in order: ``[{"name": ..., "type": ...}, ...]``.
Fields = list[dict[str, str]]

STAGE: Fields = [{"name": "specHash", "type": "bytes32"}, {"name": "amount", "type": "uint128"}]
TERMS: Fields = [
    {"name": "partyA", "type": "uint32"},
    {"name": "partyB", "type": "uint32"},
    {"name": "asset", "type": "address"},
    {"name": "total", "type": "uint128"},
    {"name": "stages", "type": "Stage[]"},
]
DIGITAL_CODE: Fields = [
    {"name": "contractNo", "type": "bytes32"},
    {"name": "orgId", "type": "uint32"},
    {"name": "docHash", "type": "bytes32"},
    {"name": "terms", "type": "Terms"},
]
STAGE_FEEDBACK: Fields = [
    {"name": "contractNo", "type": "bytes32"},
    {"name": "orgId", "type": "uint32"},
    {"name": "docHash", "type": "bytes32"},
    {"name": "stageIndex", "type": "uint8"},
    {"name": "specHash", "type": "bytes32"},
    {"name": "amount", "type": "uint128"},
    {"name": "resultHash", "type": "bytes32"},
]
ASSIGNMENT_CONFIRMATION: Fields = [
    {"name": "voucherId", "type": "bytes32"},
    {"name": "assigneeOrg", "type": "uint32"},
    {"name": "bankAccountHash", "type": "bytes32"},
]
INVOICE: Fields = [{"name": "voucherId", "type": "bytes32"}, {"name": "invoiceHash", "type": "bytes32"}]
JOINT_SETTLEMENT: Fields = [{"name": "voucherId", "type": "bytes32"}, {"name": "toBeneficiary", "type": "bool"}]

_DOMAIN_FIELDS: Fields = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def domain(name: str, chain_id: int, verifying_contract: ChecksumAddress) -> dict[str, Any]:
    """An EIP-712 domain bound to a chain and a contract."""
    return {"name": name, "version": VERSION, "chainId": chain_id, "verifyingContract": verifying_contract}


def typed_data(
    domain_data: dict[str, Any], primary_type: str, types: Mapping[str, Fields], message: dict[str, Any]
) -> dict[str, Any]:
    """A full EIP-712 typed-data document; ``types`` holds the primary type and every struct type it uses."""
    return {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, **types},
        "primaryType": primary_type,
        "domain": domain_data,
        "message": message,
    }


def terms_message(
    party_a: int, party_b: int, asset: ChecksumAddress, stages: Sequence[tuple[bytes, int]]
) -> dict[str, Any]:
    """The ``Terms`` a digital code commits to (S2.5): parties, asset, total and every stage in order."""
    return {
        "partyA": party_a,
        "partyB": party_b,
        "asset": asset,
        "total": sum(amount for _, amount in stages),
        "stages": [{"specHash": spec_hash, "amount": amount} for spec_hash, amount in stages],
    }


def terms_hash(terms: dict[str, Any]) -> bytes:
    """The EIP-712 struct hash of ``Terms``, as ``ContractProposed`` reports it."""
    return _struct_hash("Terms", {"Terms": TERMS, "Stage": STAGE}, terms)


def digital_code(
    chain_id: int, registry: ChecksumAddress, contract_no: bytes, org_id: int, doc_hash: bytes, terms: dict[str, Any]
) -> dict[str, Any]:
    """The digital code a party signs for an e-contract (S2.1, S2.3): the seed's (contract number, org id,
    document hash) and the terms it is bound by (S2.5)."""
    message = {"contractNo": contract_no, "orgId": org_id, "docHash": doc_hash, "terms": terms}
    types = {"DigitalCode": DIGITAL_CODE, "Terms": TERMS, "Stage": STAGE}
    return typed_data(domain(REGISTRY_DOMAIN, chain_id, registry), "DigitalCode", types, message)


def stage_feedback(
    chain_id: int,
    registry: ChecksumAddress,
    *,
    contract_no: bytes,
    org_id: int,
    doc_hash: bytes,
    stage_index: int,
    spec_hash: bytes,
    amount: int,
    result_hash: bytes,
) -> dict[str, Any]:
    """Party B's signed feedback for one stage result (S3.1)."""
    message = {
        "contractNo": contract_no,
        "orgId": org_id,
        "docHash": doc_hash,
        "stageIndex": stage_index,
        "specHash": spec_hash,
        "amount": amount,
        "resultHash": result_hash,
    }
    types = {"StageFeedback": STAGE_FEEDBACK}
    return typed_data(domain(REGISTRY_DOMAIN, chain_id, registry), "StageFeedback", types, message)


def assignment_confirmation(
    chain_id: int, escrow: ChecksumAddress, voucher_id: bytes, assignee_org: int, bank_account_hash: bytes
) -> dict[str, Any]:
    """The payee's confirmation that its payment pays ``assignee_org`` into the account hashed so (S6.3)."""
    message = {"voucherId": voucher_id, "assigneeOrg": assignee_org, "bankAccountHash": bank_account_hash}
    types = {"AssignmentConfirmation": ASSIGNMENT_CONFIRMATION}
    return typed_data(domain(ESCROW_DOMAIN, chain_id, escrow), "AssignmentConfirmation", types, message)


def invoice(chain_id: int, escrow: ChecksumAddress, voucher_id: bytes, invoice_hash: bytes) -> dict[str, Any]:
    """The payee's signature over the e-invoice of payment ``voucher_id`` (S8.3)."""
    message = {"voucherId": voucher_id, "invoiceHash": invoice_hash}
    return typed_data(domain(ESCROW_DOMAIN, chain_id, escrow), "Invoice", {"Invoice": INVOICE}, message)


def joint_settlement(chain_id: int, escrow: ChecksumAddress, voucher_id: bytes, to_beneficiary: bool) -> dict[str, Any]:
    """A party's consent to settle a requested payment without the institution (S6.5)."""
    message = {"voucherId": voucher_id, "toBeneficiary": to_beneficiary}
    types = {"JointSettlement": JOINT_SETTLEMENT}
    return typed_data(domain(ESCROW_DOMAIN, chain_id, escrow), "JointSettlement", types, message)


def sign_typed(account: LocalAccount, data: dict[str, Any]) -> bytes:
    """Signs EIP-712 typed data with a local key; returns the 65-byte signature (``r ‖ s ‖ v``, v 27 or 28), the
    one eth-account gives (RFC 6979 nonces), at a fifth of its cost."""
    signature = coincurve.PrivateKey(bytes(account.key)).sign_recoverable(typed_digest(data), hasher=None)
    return signature[:64] + bytes((signature[64] + 27,))


def typed_digest(data: dict[str, Any]) -> bytes:
    """The 32-byte EIP-712 digest of typed data (what the contracts' ``*Digest`` views return).

    Encoded here for the types this module defines: atomic fields, struct fields and arrays of structs
    (``tests/test_eip712.py`` checks it against eth-account's ``encode_typed_data`` and the contracts).
    """
    types = {name: fields for name, fields in data["types"].items() if name != "EIP712Domain"}
    domain_hash = _domain_separator(tuple(sorted(data["domain"].items())))
    struct_hash = _struct_hash(data["primaryType"], types, data["message"])
    return keccak(b"\x19\x01" + domain_hash + struct_hash)


@functools.lru_cache(maxsize=64)
def _domain_separator(items: tuple[tuple[str, Any], ...]) -> bytes:
    return _struct_hash("EIP712Domain", {"EIP712Domain": _DOMAIN_FIELDS}, dict(items))


def _struct_hash(name: str, types: Mapping[str, Fields], message: Mapping[str, Any]) -> bytes:
    fields = types[name]
    if set(message) != {field["name"] for field in fields}:
        raise ValueError(f"{name}: the message's fields are not the type's")
    words = [_encode(field["type"], message[field["name"]], types) for field in fields]
    return keccak(_type_hash(name, types) + b"".join(words))


def _type_hash(name: str, types: Mapping[str, Fields]) -> bytes:
    """keccak256 of the type's encoding: the type, then every struct type it references, sorted by name."""
    referenced = sorted(_references(name, types) - {name})
    return keccak(text="".join(_type_string(each, types[each]) for each in (name, *referenced)))


def _type_string(name: str, fields: Fields) -> str:
    return f"{name}({','.join(field['type'] + ' ' + field['name'] for field in fields)})"


def _references(name: str, types: Mapping[str, Fields]) -> set[str]:
    found = {name}
    for field in types[name]:
        base = field["type"].removesuffix("[]")
        if base in types and base not in found:
            found |= _references(base, types)
    return found


def _encode(kind: str, value: Any, types: Mapping[str, Fields]) -> bytes:
    """One field as EIP-712 encodes it: atomic values as ABI words, strings and arrays and structs hashed."""
    if kind.endswith("[]"):
        if not isinstance(value, list | tuple):
            raise ValueError(f"{value!r} is not a {kind}")
        return keccak(b"".join(_encode(kind[:-2], item, types) for item in value))
    if kind in types:
        return _struct_hash(kind, types, value)
    return _word(kind, value)


def _word(kind: str, value: Any) -> bytes:
    """One atomic or string field, ABI-encoded as EIP-712 encodes it."""
    if kind == "string":
        return keccak(text=str(value))
    if kind == "address":
        return bytes(12) + bytes.fromhex(to_checksum_address(value)[2:])
    if kind == "bool" and isinstance(value, bool):
        return int(value).to_bytes(32, "big")
    if kind.startswith("uint") and isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < 2 ** int(kind[4:] or 256):
            raise ValueError(f"{value} is out of range for {kind}")
        return value.to_bytes(32, "big")
    if kind == "bytes32" and isinstance(value, bytes | bytearray) and len(value) == 32:
        return bytes(value)
    raise ValueError(f"{value!r} is not a {kind} this module encodes")
