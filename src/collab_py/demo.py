"""The main job: the whole SPEC on a development node, through the role services.

Deploys, registers Party A, B, C and a bank, mints deposits to A, then for a 3-stage contract runs S2–S7 with two
payments — the first redeemed by Party B, the second assigned to Party C (S6.3) — and for a second contract lets a
short-lived payment key expire and Party A reclaim it (S6.4). Every transaction is reported to ``on_step``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from web3 import Web3

from collab_py.drafts import ContractDraft, StageDraft
from collab_py.flow import FlowDriver
from collab_py.models import SecondVoucherRecord
from collab_py.sandbox import Sandbox, bootstrap, sample_contract
from collab_py.services import StepObserver, StepRecord

B_BANK_ACCOUNT = "CN12 ICBC 6222 0200 0000 1234"
C_BANK_ACCOUNT = "HK33 HSBC 0000 7777 1111"
#: Lifetime of the payment key that the demo lets expire.
SHORT_KEY_LIFETIME = 3600


@dataclass
class DemoResult:
    """What the demo did: the sandbox, every step, the second vouchers and the final balances (token units)."""

    sandbox: Sandbox
    steps: list[StepRecord] = field(default_factory=list)
    second_vouchers: list[SecondVoucherRecord] = field(default_factory=list)
    balances: dict[str, int] = field(default_factory=dict)


def run_demo(
    w3: Web3,
    documents: Path,
    *,
    on_step: StepObserver | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> DemoResult:
    """Runs the demo on the development node behind ``w3``; documents are kept under ``documents``."""
    phase = on_phase or (lambda _text: None)
    phase("deploying contracts and registering Party A, B, C and the bank")
    sandbox = bootstrap(w3)
    result = DemoResult(sandbox)

    def record(step: StepRecord) -> None:
        result.steps.append(step)
        if on_step is not None:
            on_step(step)

    driver = FlowDriver(sandbox.deployment, on_step=record, documents=documents)
    a, b, c, bank = sandbox.a, sandbox.b, sandbox.c, sandbox.bank
    draft = sample_contract("HT-DEMO-001")

    phase("S2–S4: e-contract HT-DEMO-001, three stages, settlement")
    driver.business(b).propose(draft, a.org_id)
    driver.business(a).countersign(draft.number, draft.text.encode())  # the document A received off chain
    for index in range(len(draft.stages)):
        driver.business(b).submit_stage(draft.number, index, f"{draft.number} stage {index} delivered".encode())
        driver.business(a).confirm_stage(draft.number, index)
    driver.business(b).apply_settlement(draft.number)
    driver.business(a).approve_settlement(draft.number)

    phase("S5–S7: first payment, redeemed by Party B")
    first = draft.total * 6 // 10
    seq = driver.finance(b).apply_payment(draft.number, first, B_BANK_ACCOUNT).seq
    driver.finance(a).issue_voucher(draft.number, seq)
    driver.finance(b).redeem(draft.number, seq)
    result.second_vouchers.append(driver.institution(bank).release(draft.number, seq))

    phase("S5–S7: second payment, its key assigned to Party C")
    seq = driver.finance(b).apply_payment(draft.number, draft.total - first, B_BANK_ACCOUNT).seq
    driver.finance(a).issue_voucher(draft.number, seq)
    sealed_for_c = driver.finance(b).assign_key(draft.number, seq, c.org_id)
    driver.finance(c).present_key(draft.number, seq, sealed_for_c)
    account = driver.finance(c).assignee_account(draft.number, seq, C_BANK_ACCOUNT)
    signature = driver.finance(b).sign_assignment(draft.number, seq, c.org_id, account.account_hash)
    driver.finance(c).confirm_assignment(
        draft.number, seq, account, signer=driver.finance(b).address, signature=signature
    )
    result.second_vouchers.append(driver.institution(bank).release(draft.number, seq))

    phase("S6.4: a payment key that expires, reclaimed by Party A")
    expiring = ContractDraft(
        number="HT-DEMO-002",
        text="Maintenance agreement HT-DEMO-002: Party B Supplies services Party A Holdings' line for a year.",
        stages=(StageDraft("annual maintenance", 50_000_00),),
    )
    driver.run_to_settlement(a, b, expiring)
    seq = driver.finance(b).apply_payment(expiring.number, expiring.total, B_BANK_ACCOUNT).seq
    driver.finance(a).issue_voucher(expiring.number, seq, lifetime=SHORT_KEY_LIFETIME)
    w3.provider.make_request("evm_increaseTime", [SHORT_KEY_LIFETIME + 1])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    driver.finance(a).reclaim(expiring.number, seq)

    asset = sandbox.deployment.asset.functions
    for name, address in (
        ("Party A treasury", a.treasury.address),
        ("Party B treasury", b.treasury.address),
        ("Party C treasury", c.treasury.address),
        ("escrow", sandbox.deployment.escrow.address),
    ):
        result.balances[name] = int(asset.balanceOf(address).call())
    return result
