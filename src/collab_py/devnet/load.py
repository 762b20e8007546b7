"""Many released payments, fast, for backfill tests, the load test and the listener and history benchmarks.

Contracts of one stage are settled, then each gets up to 255 payments of one unit. Every step is built by its
department's service (``prepare_*``) and signed by a :class:`~collab_py.devnet.pipeline.PipelinedTransactor`; the
steps go out in rounds, one step for every payment: a round's transactions never depend on one another, each depends
only on rounds already mined, and every receipt is checked before the next round. On a development node automine is
off and a round is one block mined on request; on any other node (geth, Besu) the chain's blocks carry the rounds,
each at most two blocks' gas and 64 transactions (:class:`~collab_py.devnet.pipeline.Rounds`), as each step is sent by
one account: on 1 s Clique blocks, 64 transactions every 3 blocks or so (2,000 payments in 9 minutes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from collab_py.chain.enums import Department
from collab_py.devnet.parties import Party
from collab_py.devnet.pipeline import LIVE_ACCOUNT_WINDOW, Outbox, PipelinedTransactor, Rounds, Rpc
from collab_py.devnet.sandbox import Sandbox
from collab_py.domain import crypto
from collab_py.domain.drafts import ContractDraft, StageDraft
from collab_py.domain.models import Evidence, SecondVoucherRecord
from collab_py.domain.types import payment_voucher_id
from collab_py.services import (
    BusinessService,
    FinanceService,
    InstitutionService,
    PreparedStep,
    Service,
)
from collab_py.services.base import ServiceOptions
from collab_py.services.reader import ChainReader

BANK_ACCOUNT = "CN12 LOAD 0000 0000 0001"
#: Most payments one contract can have (a uint8 sequence number).
MAX_PAYMENTS_PER_CONTRACT = 255


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
    invoiced: bool = False,
    progress: Callable[[int], None] | None = None,
    account_window: int = LIVE_ACCOUNT_WINDOW,
) -> list[Payment]:
    """Creates ``count`` released payments (so ``count`` second vouchers) between Party A and Party B; with
    ``release`` False they stay requested, for the institution to release; with ``invoiced`` Party B also anchors
    each one's e-invoice (a history the listeners find complete). ``progress`` hears how many of the ``count``
    payments are done, after each block of the release round. On a live chain, rounds hold at most
    ``account_window`` transactions of one account (:class:`~collab_py.devnet.pipeline.Rounds`)."""
    if not 1 <= per_contract <= MAX_PAYMENTS_PER_CONTRACT:
        raise ValueError(f"per_contract must be 1 to {MAX_PAYMENTS_PER_CONTRACT}")
    contracts = math.ceil(count / per_contract)
    sizes = [min(per_contract, count - index * per_contract) for index in range(contracts)]
    drafts = [
        ContractDraft(f"{prefix}-{index}", f"load contract {prefix}-{index}", (StageDraft(f"{prefix}-{index}", size),))
        for index, size in enumerate(sizes)
    ]
    payments = [Payment(draft, seq) for draft, size in zip(drafts, sizes, strict=True) for seq in range(1, size + 1)]
    a, b, bank = sandbox.a, sandbox.b, sandbox.bank
    outbox, reader = Outbox(), ChainReader(sandbox.deployment)

    def transactor(party: Party, department: Department) -> PipelinedTransactor:
        return PipelinedTransactor(sandbox.w3, party.account(department), outbox=outbox)

    def options(party: Party) -> ServiceOptions:
        return {"org_id": party.org_id, "label": party.name, "reader": reader}

    business_a = BusinessService(sandbox.deployment, transactor(a, Department.BUSINESS), **options(a))
    business_b = BusinessService(sandbox.deployment, transactor(b, Department.BUSINESS), **options(b))
    finance_a = FinanceService(
        sandbox.deployment, transactor(a, Department.FINANCE), encryption_key=a.encryption_key, **options(a)
    )
    finance_b = FinanceService(
        sandbox.deployment, transactor(b, Department.FINANCE), encryption_key=b.encryption_key, **options(b)
    )
    result = b"\x01" * 32
    endpoint = sandbox.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    with Rpc(endpoint) as rpc, Rounds(rpc, account_window=account_window) as rounds:

        def run(service: Service, steps: Sequence[PreparedStep], report: bool = False) -> None:
            size = rounds.size(steps[0].gas_limit)
            for start in range(0, len(steps), size):
                for step in steps[start : start + size]:
                    service.send(step)
                rounds.mine(outbox.take(), f"{steps[0].step} of {service.label}")
                if report and progress is not None:
                    progress(min(start + size, len(steps)))

        econtracts = [business_b.econtract(draft, a.org_id) for draft in drafts]
        run(business_b, [business_b.prepare_propose(econtract) for econtract in econtracts])
        run(business_a, [business_a.prepare_countersign(econtract) for econtract in econtracts])
        run(business_b, [business_b.prepare_submit_stage(econtract, 0, result) for econtract in econtracts])
        run(business_a, [business_a.prepare_confirm_stage(econtract, 0, result) for econtract in econtracts])
        run(business_b, [business_b.prepare_apply_settlement(draft.contract_no) for draft in drafts])
        run(business_a, [business_a.prepare_approve_settlement(draft.contract_no) for draft in drafts])
        payer_key, payee_key = a.encryption_key.public_key, b.encryption_key.public_key
        accounts = [finance_b.receiving_account(p.draft.contract_no, p.seq, BANK_ACCOUNT) for p in payments]
        run(
            finance_b,
            [
                finance_b.prepare_apply_payment(
                    p.draft.contract_no, p.seq, 1, account, payer_key=payer_key,
                    institution_key=bank.encryption_key.public_key,
                )
                for p, account in zip(payments, accounts, strict=True)
            ],
        )  # fmt: skip
        expiry = int(sandbox.w3.eth.get_block("latest")["timestamp"]) + 30 * 24 * 3600
        issued = [
            finance_a.prepare_issue_voucher(
                p.draft.contract_no, p.seq, amount=1, account=account, expiry=expiry, payee_key=payee_key
            )
            for p, account in zip(payments, accounts, strict=True)
        ]
        run(finance_a, [prepared for prepared, _ in issued])
        keys = [
            crypto.open_sealed(
                b.encryption_key, sealed, crypto.PaymentKey, finance_b.binding(p.draft.contract_no, p.seq)
            )
            for p, (_, sealed) in zip(payments, issued, strict=True)
        ]
        redeem = finance_b.prepare_redeem
        run(finance_b, [redeem(p.draft.contract_no, p.seq, key.secret) for p, key in zip(payments, keys, strict=True)])
        if release:
            operator = InstitutionService(
                sandbox.deployment,
                transactor(bank, Department.OPERATOR),
                encryption_key=bank.encryption_key,
                **options(bank),
            )
            run(operator, [operator.prepare_release(p.draft.contract_no, p.seq) for p in payments], report=True)
            if invoiced:
                run(finance_b, [_invoice(sandbox, finance_b, p) for p in payments])
    return payments


def _invoice(sandbox: Sandbox, finance_b: FinanceService, payment: Payment) -> PreparedStep:
    """Party B's anchoring of the e-invoice of a released load payment (one unit, no tax)."""
    raw = payment.draft.contract_no
    second = SecondVoucherRecord(
        voucher_id=payment_voucher_id(raw, payment.seq),
        contract_no=payment.draft.number,
        seq=payment.seq,
        payer_org=sandbox.a.org_id,
        payee_org=sandbox.b.org_id,
        beneficiary_org=sandbox.b.org_id,
        beneficiary=sandbox.b.treasury.address,
        asset=sandbox.deployment.asset.address,
        amount=1,
        paid_at=0,
        released_by=sandbox.bank.account(Department.OPERATOR).address,
        evidence=Evidence(tx_hash=bytes(32), block_number=0, block_hash=bytes(32), log_index=0),
    )
    number = f"INV-{payment.draft.number}-{payment.seq}"
    prepared, _ = finance_b.prepare_invoice(raw, payment.seq, invoice_no=number, tax=0, issued_at=0, second=second)
    return prepared
