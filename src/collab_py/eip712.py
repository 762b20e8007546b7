"""EIP-712 typed data the contracts verify, one definition each, and signing with a local key.

The type strings must match the contracts' typehashes; ``tests/test_eip712.py`` checks every digest against the
contract's own ``*Digest`` view.
"""

from __future__ import annotations

from typing import Any

from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
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
    """Signs EIP-712 typed data with a local key; returns the 65-byte signature."""
    return bytes(account.sign_message(encode_typed_data(full_message=data)).signature)


def typed_digest(data: dict[str, Any]) -> bytes:
    """The 32-byte EIP-712 digest of typed data (what the contracts' ``*Digest`` views return)."""
    signable = encode_typed_data(full_message=data)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)
