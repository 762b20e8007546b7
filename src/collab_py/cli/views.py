"""Records as the ``collab`` command shows them: amounts in currency units (the asset's decimals), times in the
user's time zone, and no ciphertexts."""

from __future__ import annotations

from typing import Any

from collab_py.cli.context import amount, local_time
from collab_py.domain.models import AgreementRecord, PaymentRecord, SecondVoucherRecord, StageRecord


def contract_view(record: AgreementRecord, decimals: int) -> dict[str, Any]:
    """An e-contract: status, parties, asset, document and terms hashes, total, unpaid, stages and signatures."""
    data = record.model_dump(mode="json")
    return {
        "contract_no": record.contract_no,
        "status": data["status"],
        "party_a": record.party_a,
        "party_b": record.party_b,
        "asset": record.asset,
        "doc_hash": data["doc_hash"],
        "terms_hash": data["terms_hash"],
        "total": amount(record.total, decimals),
        "unpaid": amount(record.unpaid, decimals),
        "committed": amount(record.committed, decimals),
        "payment_count": record.payment_count,
        "stages": [stage_view(stage, decimals) for stage in record.stages],
        "signature_b": data["signature_b"],
        "signature_a": data["signature_a"],
        "signed_at": local_time(record.signed_at),
    }


def stage_view(record: StageRecord, decimals: int) -> dict[str, Any]:
    """One stage and where its first voucher stands."""
    return record.model_dump(mode="json") | {"amount": amount(record.amount, decimals)}


def payment_view(record: PaymentRecord, decimals: int) -> dict[str, Any]:
    """A payment: status, amount, the account's salted hash, key expiry, beneficiary and its pinned treasury,
    request time and release deadline; not the ciphertexts, which only their addressees open."""
    data = record.model_dump(mode="json")
    return {
        "contract_no": record.contract_no,
        "seq": record.seq,
        "voucher_id": data["voucher_id"],
        "status": data["status"],
        "amount": amount(record.amount, decimals),
        "payee_org": record.payee_org,
        "account_hash": data["account_hash"],
        "expiry": local_time(record.expiry),
        "presenter_org": record.presenter_org,
        "beneficiary_org": record.beneficiary_org,
        "pinned_treasury": record.beneficiary,
        "requested_at": local_time(record.requested_at),
        "release_deadline": local_time(record.release_deadline),
        "assignee_account_hash": data["assignee_account_hash"],
    }


def second_voucher_view(record: SecondVoucherRecord, decimals: int) -> dict[str, Any]:
    """A second voucher (S7.1): who paid whom, how much, when, and where on chain."""
    return record.model_dump(mode="json") | {
        "amount": amount(record.amount, decimals),
        "paid_at": local_time(record.paid_at),
    }
