"""Typed records of what the chain holds: orgs, members, e-contracts, stages, payments, second vouchers, invoices.

Services return these, read back from the chain after each step (never echoes of their input). Byte fields are
shown and serialised as ``0x`` hex; ``model_dump(mode="json")`` gives what ``collab ... --json`` prints.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

from collab_py.chain.enums import ContractStatus, Department, OrgKind, StageStatus, VoucherStatus


def _from_hex(value: Any) -> Any:
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    return bytes(value) if isinstance(value, bytearray | memoryview) else value


#: Bytes that serialise as ``0x`` hex and accept hex strings.
Hex = Annotated[bytes, BeforeValidator(_from_hex), PlainSerializer(lambda raw: "0x" + raw.hex(), return_type=str)]
#: An enum that serialises by name.
_by_name = PlainSerializer(lambda member: member.name, return_type=str)


class Record(BaseModel):
    """Base of the records: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class OrgRecord(Record):
    """A member org (S1.1)."""

    org_id: int
    name: str
    kind: Annotated[OrgKind, _by_name]
    treasury: str
    active: bool
    encryption_key: Hex


class AssetRecord(Record):
    """An ERC-20 governance listed, and whether new contracts may be paid in it now."""

    asset: str
    accepted: bool


class MemberRecord(Record):
    """The org and department an account acts for (S1.2); org 0 means unbound."""

    account: str
    org_id: int
    department: Annotated[Department, _by_name]


class Evidence(Record):
    """Where on chain something happened."""

    tx_hash: Hex
    block_number: int
    block_hash: Hex
    log_index: int


class Signature(Record):
    """A party's EIP-712 signature as the chain recorded it."""

    signer: str
    signature: Hex


class StageRecord(Record):
    """One stage of an e-contract and where its first voucher stands (S3)."""

    index: int
    spec_hash: Hex
    amount: int
    status: Annotated[StageStatus, _by_name]
    result_hash: Hex | None = None


class AgreementRecord(Record):
    """An e-contract as registered and signed on chain (S2), with its stages and settlement status (S3, S4).

    ``doc_hash`` and ``terms_hash`` are what both signatures commit to; ``unpaid`` is what payment applications may
    still ask for (the total less every application not refused, withdrawn or reclaimed)."""

    contract_no: str
    party_a: int
    party_b: int
    doc_hash: Hex
    terms_hash: Hex
    asset: str
    total: int
    unpaid: int
    status: Annotated[ContractStatus, _by_name]
    stages: tuple[StageRecord, ...]
    payment_count: int
    signature_b: Signature
    signature_a: Signature | None = None
    signed_at: int | None = None

    @property
    def committed(self) -> int:
        """What open applications and vouchers hold of the total."""
        return self.total - self.unpaid


class PaymentRecord(Record):
    """A payment: its application (S5.1), voucher and frozen funds (S5.2–S5.4) and redemption (S6).

    The application names the payee's account by its salted hash (``account_hash``, which the voucher must carry)
    with the account encrypted to the payer and to the institution; once redeemed or assigned the beneficiary's
    treasury is pinned (``beneficiary``), and the institution has until ``release_deadline`` before payer and
    beneficiary may settle without it."""

    voucher_id: Hex
    contract_no: str
    seq: int
    amount: int
    status: Annotated[VoucherStatus, _by_name]
    payee_org: int
    account_hash: Hex
    account_for_payer: Hex
    account_for_institution: Hex
    expiry: int | None = None
    key_commitment: Hex | None = None
    key_ciphertext: Hex | None = None
    presenter_org: int | None = None
    beneficiary_org: int | None = None
    beneficiary: str | None = None
    requested_at: int | None = None
    release_deadline: int | None = None
    assignee_account_hash: Hex | None = None
    assignee_account_ciphertext: Hex | None = None


class SecondVoucherRecord(Record):
    """The second voucher (S7.1): the institution paid ``amount`` to the beneficiary; what accounting posts from."""

    voucher_id: Hex
    contract_no: str
    seq: int
    payer_org: int
    payee_org: int
    beneficiary_org: int
    beneficiary: str
    asset: str
    amount: int
    paid_at: int
    released_by: str
    evidence: Evidence


class InvoiceRecord(Record):
    """An e-invoice anchored on chain (S8.3): the hash of the payee's invoice document, the document encrypted to the
    payer's finance department, and the payee's EIP-712 signature of ``Invoice(voucherId, invoiceHash)``."""

    voucher_id: Hex
    contract_no: str
    seq: int
    payee_org: int
    invoice_hash: Hex
    ciphertext: Hex
    signature: Signature
    evidence: Evidence


def jsonable(value: Any) -> Any:
    """``value`` with records dumped, bytes as ``0x`` hex and tuples as lists: ready for ``json.dumps``."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value
