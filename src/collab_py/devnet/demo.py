"""The main job: the whole SPEC on a node (anvil, or any JSON-RPC node), through the role services and the listeners.

Deploys, registers Party A, B, C and a bank, mints deposits to A, and starts the listeners, one engine per ledger
database (its sync and its consumers): the accounting and invoicing of A and of B, the accounting of C, and the
institution's bot. Then, for a 3-stage
contract, runs S2–S6 with two payments — the first redeemed by Party B, the second assigned to Party C (S6.3) —
which the bot checks and releases (S6.2, S7); for a second contract a payment key with the escrow's shortest lifetime
expires — the demo waits for the chain's clock to pass it, no time travel — and Party A reclaims it (S6.4). Once
the listeners have caught up — B has invoiced both payments and A has verified the invoices (S8.3) — it reads the
companies' books and reconciles them with the chain (S8.1, S8.4).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from web3 import Web3

from collab_py.chain.enums import VoucherStatus
from collab_py.devnet.flow import Flow, delivered
from collab_py.devnet.parties import Funding, Party, is_dev_node
from collab_py.devnet.sandbox import B_BANK_ACCOUNT, C_BANK_ACCOUNT, Sandbox, bootstrap, sample_contract
from collab_py.domain.drafts import ContractDraft, StageDraft
from collab_py.domain.models import SecondVoucherRecord
from collab_py.exceptions import CollabError
from collab_py.ledger.database import open_database
from collab_py.ledger.queries import JournalLine, invoice_rows, journal
from collab_py.ledger.reconcile import Reconciliation, reconcile
from collab_py.listener.factory import ListenerSpec, Role, build_engine
from collab_py.listener.runtime import ListenerThread
from collab_py.listener.sync import ListenerConfig
from collab_py.services import StepObserver, StepRecord
from collab_py.services.reader import ChainReader


class DemoError(CollabError):
    """A service of the demo did not do its part in time."""


#: Seconds added to the escrow's shortest key lifetime for the key the demo lets expire: time for the voucher's
#: transaction to be mined (the expiry counts from the latest block when it is signed).
EXPIRY_MARGIN = 6


@dataclass
class DemoResult:
    """What the demo did: every step, the second vouchers, the final balances (token units), each org's journal
    and the reconciliation."""

    sandbox: Sandbox
    steps: list[StepRecord] = field(default_factory=list)
    second_vouchers: list[SecondVoucherRecord] = field(default_factory=list)
    balances: dict[str, int] = field(default_factory=dict)
    journals: dict[str, list[JournalLine]] = field(default_factory=dict)
    invoices: list[dict[str, Any]] = field(default_factory=list)
    reconciliation: Reconciliation | None = None


def run_demo(
    w3: Web3,
    workdir: Path,
    *,
    on_step: StepObserver | None = None,
    on_phase: Callable[[str], None] | None = None,
    funding: Funding | None = None,
) -> DemoResult:
    """Runs the demo on the node behind ``w3``; documents and ledgers are kept under ``workdir``; ``funding`` gives the
    fresh accounts their ether (default: a development node's ``anvil_setBalance``, nothing on a zero-gas chain)."""
    phase = on_phase or (lambda _text: None)
    phase("deploying contracts and registering Party A, B, C and the bank")
    sandbox = bootstrap(w3, funding=funding)
    result = DemoResult(sandbox)

    def record(step: StepRecord) -> None:
        result.steps.append(step)
        if on_step is not None:
            on_step(step)

    flow = Flow(sandbox.deployment, on_step=record, documents=workdir / "documents")
    a, b, c, bank = sandbox.a, sandbox.b, sandbox.c, sandbox.bank
    phase("starting the listeners: accounting of A, B and C, invoicing of A and B, the institution's bot")
    books = {party.name: open_database(f"sqlite:///{workdir / f'ledger-{party.org_id}.db'}") for party in (a, b, c)}
    config = ListenerConfig(confirmations=0, poll_interval=0.1)

    def start(roles: tuple[Role, ...], party: Party, database: Engine) -> ListenerThread:
        engine = build_engine(
            [ListenerSpec(role, party.org_id, config=config) for role in roles],
            sandbox.deployment,
            database,
            finance=lambda: flow.finance(party),
            operator=lambda: flow.institution(party),
        )
        return ListenerThread(engine).start()

    books_and_invoices = (Role.accounting, Role.invoicing)
    listeners = [start(books_and_invoices, p, books[p.name]) for p in (a, b)]
    listeners.append(start((Role.accounting,), c, books[c.name]))
    bot_books = open_database(f"sqlite:///{workdir / 'institution.db'}")
    listeners.append(start((Role.institution,), bank, bot_books))
    try:
        _flow(flow, sandbox, phase)
        phase("S8: waiting for the listeners to post the books and exchange the e-invoices")
        _settle(w3, listeners, invoices_expected=2, invoice_books=books[a.name])
    finally:
        for listener in listeners:
            listener.stop()
    reader = ChainReader(sandbox.deployment)
    result.second_vouchers = reader.second_vouchers()
    result.journals = {name: journal(database) for name, database in books.items()}
    result.invoices = [row for database in books.values() for row in invoice_rows(database)]
    decimals = sandbox.deployment.decimals()
    result.reconciliation = reconcile(result.second_vouchers, books[a.name], books[b.name], decimals=decimals)
    asset = sandbox.deployment.asset.functions
    for name, address in (
        ("Party A treasury", a.treasury.address),
        ("Party B treasury", b.treasury.address),
        ("Party C treasury", c.treasury.address),
        ("escrow", sandbox.deployment.escrow.address),
    ):
        result.balances[name] = int(asset.balanceOf(address).call())
    return result


def _flow(flow: Flow, sandbox: Sandbox, phase: Callable[[str], None]) -> None:
    a, b, c = sandbox.a, sandbox.b, sandbox.c
    reader = ChainReader(sandbox.deployment)
    draft = sample_contract("HT-DEMO-001")

    phase("S2–S4: e-contract HT-DEMO-001, three stages, settlement")
    econtract = flow.econtract(a, b, draft)
    flow.business(b).propose(econtract)
    flow.business(a).countersign(draft.number, econtract.document())  # the e-contract A received off chain
    for index in range(len(draft.stages)):
        flow.business(b).submit_stage(draft.number, index, delivered(draft, index))
        flow.business(a).confirm_stage(draft.number, index)
    flow.business(b).apply_settlement(draft.number)
    flow.business(a).approve_settlement(draft.number)

    phase("S2–S5: e-contract HT-DEMO-002, its payment key issued with the escrow's shortest lifetime")
    expiring = ContractDraft(
        number="HT-DEMO-002",
        text="Maintenance agreement HT-DEMO-002: Party B Supplies services Party A Holdings' line for a year.",
        stages=(StageDraft("annual maintenance", 50_000_00),),
    )
    flow.settle(a, b, expiring)
    expiring_seq = flow.finance(b).apply_payment(expiring.number, expiring.total, B_BANK_ACCOUNT).seq
    lifetime = int(sandbox.deployment.escrow.functions.minKeyLifetime().call()) + EXPIRY_MARGIN
    expiry = flow.finance(a).issue_voucher(expiring.number, expiring_seq, lifetime=lifetime).expiry
    assert expiry is not None

    phase("S5–S7: first payment of HT-DEMO-001, redeemed by Party B (HT-DEMO-002's key expires meanwhile)")
    first = draft.total * 6 // 10
    seq = flow.finance(b).apply_payment(draft.number, first, B_BANK_ACCOUNT).seq
    flow.finance(a).issue_voucher(draft.number, seq)
    flow.finance(b).redeem(draft.number, seq)
    phase("S6.2, S7: the institution's bot checks the request and releases it")
    _released(reader, draft.number, seq)

    phase("S5–S7: second payment, its key assigned to Party C")
    seq = flow.finance(b).apply_payment(draft.number, draft.total - first, B_BANK_ACCOUNT).seq
    flow.finance(a).issue_voucher(draft.number, seq)
    sealed_for_c = flow.finance(b).assign_key(draft.number, seq, c.org_id)
    flow.finance(c).present_key(draft.number, seq, sealed_for_c)
    account = flow.finance(c).assignee_account(draft.number, seq, C_BANK_ACCOUNT)
    signature = flow.finance(b).sign_assignment(draft.number, seq, c.org_id, account.account_hash)
    flow.finance(c).confirm_assignment(
        draft.number, seq, c.org_id, account, signer=flow.finance(b).address, signature=signature
    )
    _released(reader, draft.number, seq)

    phase(f"S6.4: HT-DEMO-002's payment key expired (lifetime {lifetime} s, no time travel): Party A reclaims it")
    _wait_for_chain_time(sandbox.w3, expiry + 1)
    flow.finance(a).reclaim(expiring.number, expiring_seq)


def _settle(w3: Web3, listeners: list[ListenerThread], *, invoices_expected: int, invoice_books: Engine) -> None:
    """Waits until every listener has processed the chain and the payer has recorded the expected invoices (the
    payee's anchoring transactions add blocks, so the head is read again until nothing moves)."""
    deadline = time.monotonic() + 60
    while True:
        head = w3.eth.block_number
        for listener in listeners:
            listener.wait_until(head, timeout=max(1.0, deadline - time.monotonic()))
        if len(invoice_rows(invoice_books)) >= invoices_expected and w3.eth.block_number == head:
            return
        if time.monotonic() > deadline:
            raise DemoError("the invoicing listeners did not exchange the e-invoices in time")
        time.sleep(0.05)


def _wait_for_chain_time(w3: Web3, timestamp: int, timeout: float = 120.0) -> None:
    """Waits until the chain's latest block is at least ``timestamp`` (Unix seconds). A chain that seals blocks only
    for transactions (anvil's automine) gets an empty block once the wall clock is there (``evm_mine``)."""
    deadline = time.monotonic() + timeout
    while int(w3.eth.get_block("latest")["timestamp"]) < timestamp:
        if time.monotonic() > deadline:
            raise DemoError(f"the chain's clock did not reach {timestamp} in {timeout} s")
        if time.time() >= timestamp + 1 and is_dev_node(w3):
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        time.sleep(0.2)


def _released(reader: ChainReader, number: str, seq: int, timeout: float = 30.0) -> None:
    """Waits until the institution's bot has released payment ``seq``."""
    deadline = time.monotonic() + timeout
    while reader.payment(number, seq).status is not VoucherStatus.RELEASED:
        if time.monotonic() > deadline:
            raise DemoError(f"the institution's bot did not release payment {seq} of {number} in {timeout} s")
        time.sleep(0.02)
