"""Many released payments, fast, for backfill tests and the listener benchmark.

Contracts of one stage are settled, then each gets up to 255 payments of one unit. Every step goes through its
department's service (``prepare_*``) and is sent in rounds: one round is one step for every payment, from one
account, with pipelined nonces and a fixed gas limit, so nothing waits for a receipt until the round's last
transaction. On anvil (automine) transactions execute in the order they arrive, so each round sees the previous one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from collab_py import crypto
from collab_py.chain import PendingTx
from collab_py.drafts import ContractDraft, StageDraft
from collab_py.exceptions import CollabError
from collab_py.flow import FlowDriver
from collab_py.sandbox import Sandbox
from collab_py.services import PreparedStep, Service

BANK_ACCOUNT = "CN12 LOAD 0000 0000 0001"
#: Transactions one account sends before it waits for the last of them to be mined.
WINDOW = 32
#: Most payments one contract can have (a uint8 sequence number).
MAX_PAYMENTS_PER_CONTRACT = 255


class LoadError(CollabError):
    """A round of the load did not go through."""


@dataclass(frozen=True)
class Payment:
    """One payment of the load."""

    draft: ContractDraft
    seq: int


def released_payments(
    sandbox: Sandbox,
    count: int,
    *,
    per_contract: int = 200,
    prefix: str = "LOAD",
    release: bool = True,
    progress: Callable[[int], None] | None = None,
) -> list[Payment]:
    """Creates ``count`` released payments (so ``count`` second vouchers) between Party A and Party B; with
    ``release`` False they stay requested, for the institution to release."""
    if not 1 <= per_contract <= MAX_PAYMENTS_PER_CONTRACT:
        raise ValueError(f"per_contract must be 1 to {MAX_PAYMENTS_PER_CONTRACT}")
    driver = FlowDriver(sandbox.deployment)
    a, b, bank = sandbox.a, sandbox.b, sandbox.bank
    contracts = math.ceil(count / per_contract)
    sizes = [min(per_contract, count - index * per_contract) for index in range(contracts)]
    drafts = [
        ContractDraft(f"{prefix}-{index}", f"load contract {prefix}-{index}", (StageDraft(f"{prefix}-{index}", size),))
        for index, size in enumerate(sizes)
    ]
    business_a, business_b = driver.business(a), driver.business(b)
    finance_a, finance_b = driver.finance(a), driver.finance(b)
    result = b"\x01" * 32
    _round(business_b, [business_b.prepare_propose(draft, a.org_id) for draft in drafts])
    _round(business_a, [business_a.prepare_countersign(draft.contract_no, draft.text.encode()) for draft in drafts])
    _round(business_b, [business_b.prepare_submit_stage(draft, 0, result) for draft in drafts])
    _round(business_a, [business_a.prepare_confirm_stage(draft, 0, result) for draft in drafts])
    _round(business_b, [business_b.prepare_apply_settlement(draft.contract_no) for draft in drafts])
    _round(business_a, [business_a.prepare_approve_settlement(draft.contract_no) for draft in drafts])
    payments = [Payment(draft, seq) for draft, size in zip(drafts, sizes, strict=True) for seq in range(1, size + 1)]
    payer_key, payee_key = a.encryption_key.public_key, b.encryption_key.public_key
    _round(
        finance_b,
        [finance_b.prepare_apply_payment(p.draft.contract_no, p.seq, 1, BANK_ACCOUNT, payer_key) for p in payments],
    )
    expiry = int(sandbox.w3.eth.get_block("latest")["timestamp"]) + 30 * 24 * 3600
    issued = [
        finance_a.prepare_issue_voucher(
            p.draft.contract_no, p.seq, amount=1, bank_account=BANK_ACCOUNT, expiry=expiry, payee_key=payee_key,
            institution_key=bank.encryption_key.public_key,
        )
        for p in payments
    ]  # fmt: skip
    _round(finance_a, [prepared for prepared, _ in issued])
    secrets = [
        crypto.open_sealed(b.encryption_key, sealed, crypto.PaymentKey, finance_b.binding(p.draft.contract_no, p.seq))
        for p, (_, sealed) in zip(payments, issued, strict=True)
    ]
    redeem = finance_b.prepare_redeem
    _round(
        finance_b, [redeem(p.draft.contract_no, p.seq, key.secret) for p, key in zip(payments, secrets, strict=True)]
    )
    if not release:
        return payments
    operator = driver.institution(bank)
    for start in range(0, len(payments), 1_000):
        batch = payments[start : start + 1_000]
        _round(operator, [operator.prepare_release(p.draft.contract_no, p.seq) for p in batch])
        if progress is not None:
            progress(start + len(batch))
    return payments


def _round(service: Service, steps: Sequence[PreparedStep]) -> None:
    """Sends ``steps`` from ``service``'s account back to back, waits for the last, and checks every receipt (in
    JSON-RPC batches): each one must have succeeded."""
    sent: list[PendingTx] = []
    for start in range(0, len(steps), WINDOW):  # few pending transactions per sender: anvil's pool stays fast
        sent += [service.send(step) for step in steps[start : start + WINDOW]]
        sent[-1].wait()
    w3 = service.deployment.w3
    for start in range(0, len(sent), 500):
        with w3.batch_requests() as batch:
            for pending in sent[start : start + 500]:
                batch.add(w3.eth.get_transaction_receipt(pending.tx_hash))
            receipts = batch.execute()
        for pending, receipt in zip(sent[start : start + 500], receipts, strict=True):
            if receipt is None or receipt["status"] != 1:  # type: ignore[typeddict-item]
                raise LoadError(f"{steps[0].step} did not go through: {pending.tx_hash.to_0x_hex()}")
