"""The main job: the whole SPEC on a development node, through the role services and the listeners.

Deploys, registers Party A, B, C and a bank, mints deposits to A, and starts the accounting listeners of A, B and C
(each with its own ledger database) and the institution's bot. Then, for a 3-stage contract, runs S2–S6 with two
payments — the first redeemed by Party B, the second assigned to Party C (S6.3) — which the bot checks and releases
(S6.2, S7); for a second contract a short-lived payment key expires and Party A reclaims it (S6.4). Once the
listeners have caught up, it reads both companies' books and reconciles them with the chain (S8.1, S8.4).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from web3 import Web3

from collab_py.accounting import AccountingHandler
from collab_py.drafts import ContractDraft, StageDraft
from collab_py.exceptions import CollabError
from collab_py.flow import FlowDriver
from collab_py.institution_bot import InstitutionBot
from collab_py.ledger.database import open_database
from collab_py.listener.engine import Listener, ListenerConfig
from collab_py.listener.runtime import ListenerThread
from collab_py.models import SecondVoucherRecord
from collab_py.reader import ChainReader
from collab_py.reconcile import JournalLine, Reconciliation, journal, reconcile
from collab_py.sandbox import Sandbox, bootstrap, sample_contract
from collab_py.services import StepObserver, StepRecord
from collab_py.types import VoucherStatus

B_BANK_ACCOUNT = "CN12 ICBC 6222 0200 0000 1234"
C_BANK_ACCOUNT = "HK33 HSBC 0000 7777 1111"


class DemoError(CollabError):
    """A service of the demo did not do its part in time."""


#: Lifetime of the payment key that the demo lets expire.
SHORT_KEY_LIFETIME = 3600


@dataclass
class DemoResult:
    """What the demo did: every step, the second vouchers, the final balances (token units), each org's journal
    and the reconciliation."""

    sandbox: Sandbox
    steps: list[StepRecord] = field(default_factory=list)
    second_vouchers: list[SecondVoucherRecord] = field(default_factory=list)
    balances: dict[str, int] = field(default_factory=dict)
    journals: dict[str, list[JournalLine]] = field(default_factory=dict)
    reconciliation: Reconciliation | None = None


def run_demo(
    w3: Web3,
    workdir: Path,
    *,
    on_step: StepObserver | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> DemoResult:
    """Runs the demo on the development node behind ``w3``; documents and ledgers are kept under ``workdir``."""
    phase = on_phase or (lambda _text: None)
    phase("deploying contracts and registering Party A, B, C and the bank")
    sandbox = bootstrap(w3)
    result = DemoResult(sandbox)

    def record(step: StepRecord) -> None:
        result.steps.append(step)
        if on_step is not None:
            on_step(step)

    driver = FlowDriver(sandbox.deployment, on_step=record, documents=workdir / "documents")
    a, b, c, bank = sandbox.a, sandbox.b, sandbox.c, sandbox.bank
    phase("starting the accounting listeners of A, B and C and the institution's bot")
    books = {party.name: open_database(f"sqlite:///{workdir / f'ledger-{party.org_id}.db'}") for party in (a, b, c)}
    config = ListenerConfig(confirmations=0, poll_interval=0.1)
    listeners = [
        ListenerThread(
            Listener(w3, sandbox.deployment, books[party.name], f"accounting-{party.org_id}",
                     AccountingHandler(party.org_id), config)
        ).start()
        for party in (a, b, c)
    ]  # fmt: skip
    bot_books = open_database(f"sqlite:///{workdir / 'institution.db'}")
    bot = InstitutionBot(driver.institution(bank))
    listeners.append(ListenerThread(Listener(w3, sandbox.deployment, bot_books, "institution", bot, config)).start())
    try:
        _flow(driver, sandbox, phase)
        head = w3.eth.block_number
        for listener in listeners:
            listener.wait_until(head)
    finally:
        for listener in listeners:
            listener.stop()
    reader = ChainReader(sandbox.deployment)
    result.second_vouchers = reader.second_vouchers()
    result.journals = {name: journal(database) for name, database in books.items()}
    result.reconciliation = reconcile(result.second_vouchers, books[a.name], books[b.name])
    asset = sandbox.deployment.asset.functions
    for name, address in (
        ("Party A treasury", a.treasury.address),
        ("Party B treasury", b.treasury.address),
        ("Party C treasury", c.treasury.address),
        ("escrow", sandbox.deployment.escrow.address),
    ):
        result.balances[name] = int(asset.balanceOf(address).call())
    return result


def _flow(driver: FlowDriver, sandbox: Sandbox, phase: Callable[[str], None]) -> None:
    a, b, c = sandbox.a, sandbox.b, sandbox.c
    reader = ChainReader(sandbox.deployment)
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
    phase("S6.2, S7: the institution's bot checks the request and releases it")
    _released(reader, draft.number, seq)

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
    _released(reader, draft.number, seq)

    phase("S6.4: a payment key that expires, reclaimed by Party A")
    expiring = ContractDraft(
        number="HT-DEMO-002",
        text="Maintenance agreement HT-DEMO-002: Party B Supplies services Party A Holdings' line for a year.",
        stages=(StageDraft("annual maintenance", 50_000_00),),
    )
    driver.run_to_settlement(a, b, expiring)
    seq = driver.finance(b).apply_payment(expiring.number, expiring.total, B_BANK_ACCOUNT).seq
    driver.finance(a).issue_voucher(expiring.number, seq, lifetime=SHORT_KEY_LIFETIME)
    sandbox.w3.provider.make_request("evm_increaseTime", [SHORT_KEY_LIFETIME + 1])  # type: ignore[arg-type]
    sandbox.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    driver.finance(a).reclaim(expiring.number, seq)


def _released(reader: ChainReader, number: str, seq: int, timeout: float = 30.0) -> None:
    """Waits until the institution's bot has released payment ``seq``."""
    deadline = time.monotonic() + timeout
    while reader.payment(number, seq).status is not VoucherStatus.RELEASED:
        if time.monotonic() > deadline:
            raise DemoError(f"the institution's bot did not release payment {seq} of {number} in {timeout} s")
        time.sleep(0.02)
