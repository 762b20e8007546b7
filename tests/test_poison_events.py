"""Issue 9: one bad event never stops a consumer. A poison event of each kind — a contract paid in a token whose
transfers fail, a contract number that is not UTF-8 text, a payment in an asset the deployment no longer accepts —
sits in the same batch as an honest payment, and another honest payment comes 6,000 blocks later: both honest
payments are released and posted in both companies' books, the poison is refused (once) or quarantined, and
temporary refusals become decisions once their cause clears. SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import urllib.request
from collections.abc import Iterator

import pytest
from eth_utils import keccak
from sqlalchemy import Engine, func, select, update
from web3.contract import Contract

from collab_py.chain.deploy import deploy_contract
from collab_py.chain.enums import VoucherStatus
from collab_py.chain.transactor import NodeUnreachable, Transactor, connect
from collab_py.devnet.flow import Flow, delivered
from collab_py.devnet.node import AnvilNode, free_port
from collab_py.devnet.node import rpc as node_rpc
from collab_py.devnet.sandbox import bootstrap
from collab_py.domain.drafts import ContractDraft, StageDraft
from collab_py.domain.types import payment_voucher_id
from collab_py.ledger.database import open_database
from collab_py.ledger.reconcile import reconcile
from collab_py.ledger.schema import FREEZE, PAYMENT, RECEIPT, institution_actions, journal_entries
from collab_py.ledger.store import quarantined, request_retry
from collab_py.listener.engine import Engine as ListenerEngine
from collab_py.listener.factory import ListenerSpec, Role, build_engine
from collab_py.listener.handlers.institution import DEFERRED, REFUSED, RELEASED, InstitutionBot, due_requests
from collab_py.listener.health import serve
from collab_py.listener.sync import ListenerConfig
from collab_py.services import ReleaseRefused
from collab_py.services.base import StepOutcome
from collab_py.services.reader import ChainReader
from support import BANK_ACCOUNT, World, catch_up, issued

CONFIG = ListenerConfig(confirmations=0, poll_interval=0.01)
#: The non-UTF-8 contract number of issue 9 (0xfffe, then zeros), as the services spell such a number.
NOT_TEXT = "0x" + "fffe" + "00" * 30


def engine(world: World, flow: Flow, database: Engine) -> ListenerEngine:
    """The bank's bot and both companies' accounting on one (group) ledger: one sync, three consumers."""
    specs = [
        ListenerSpec(Role.institution, world.bank.org_id, config=CONFIG),
        ListenerSpec(Role.accounting, world.a.org_id, config=CONFIG),
        ListenerSpec(Role.accounting, world.b.org_id, config=CONFIG),
    ]
    built = build_engine(specs, world.deployment, database, operator=lambda: flow.institution(world.bank))
    bot = built.consumers[-1].handler
    assert isinstance(bot, InstitutionBot)
    bot.recheck_after = 0  # deferred requests are checked again at every step
    return built


def single_stage(number: str, amount: int = 1_000_00) -> ContractDraft:
    return ContractDraft(number, f"single stage contract {number}", (StageDraft(f"{number} delivery", amount),))


def requested(flow: Flow, world: World, draft: ContractDraft, withdraw: Contract | None = None) -> int:
    """Settled, issued, and redeemed by B: the institution is asked to pay. Returns the seq. ``withdraw``: governance
    stops accepting that asset once the contract is signed (the contract keeps it: the escrow still pays in it)."""
    if withdraw is None:
        seq, _ = issued(flow, world, draft)
    else:
        econtract = flow.sign(world.a, world.b, draft)
        world.admin.transact(world.deployment.registry.functions.setAssetAccepted(withdraw.address, False))
        business_a, business_b = flow.business(world.a), flow.business(world.b)
        result_hash = keccak(delivered(draft, 0))
        business_b.execute(business_b.prepare_submit_stage(econtract, 0, result_hash))
        business_a.execute(business_a.prepare_confirm_stage(econtract, 0, result_hash))
        business_b.execute(business_b.prepare_apply_settlement(draft.contract_no))
        business_a.execute(business_a.prepare_approve_settlement(draft.contract_no))
        seq = flow.finance(world.b).apply_payment(draft.number, draft.total, BANK_ACCOUNT).seq
        flow.finance(world.a).issue_voucher(draft.number, seq)
    flow.finance(world.b).redeem(draft.number, seq)
    return seq


def listed_token(world: World) -> Contract:
    """A SwitchableToken that governance accepts, with A's treasury funded and the escrow approved."""
    token, _ = deploy_contract(world.admin, "SwitchableToken")
    world.admin.transact(world.deployment.registry.functions.setAssetAccepted(token.address, True))
    world.admin.transact(token.functions.mint(world.a.treasury.address, 10_000_000_00))
    Transactor(world.w3, world.a.treasury).transact(
        token.functions.approve(world.deployment.escrow.address, 2**256 - 1)
    )
    return token


def paid_in(world: World, token: Contract) -> Flow:
    """The parties' services for contracts paid in ``token``."""
    return Flow(dataclasses.replace(world.deployment, asset=token))


def decisions(database: Engine) -> dict[str, tuple[str, str, int]]:
    columns = institution_actions.c
    with database.connect() as connection:
        rows = connection.execute(
            select(columns.contract_no, columns.action, columns.reason, columns.attempts).order_by(columns.id)
        ).all()
    return {row.contract_no: (row.action, row.reason, row.attempts) for row in rows}


def posted(database: Engine, org_id: int) -> list[tuple[str, str]]:
    entries = journal_entries.c
    with database.connect() as connection:
        rows = connection.execute(
            select(entries.kind, entries.contract_no).where(entries.org_id == org_id).order_by(entries.id)
        ).all()
    return [(kind, number) for kind, number in rows]


@dataclasses.dataclass
class Poisoned:
    """A chain of its own: a batch of requests with a poison of each kind and an honest payment, then 6,000 empty
    blocks, then another honest payment."""

    node: AnvilNode
    world: World
    flow: Flow
    token: Contract  # its transfers fail
    withdrawn: Contract  # no longer accepted by the deployment
    seqs: dict[str, int]


@pytest.fixture(scope="module")
def poisoned() -> Iterator[Poisoned]:
    # a node of its own: anvil mines 6,000 blocks in about a minute here, and the session's node must stay small
    with AnvilNode(extra_args=["--prune-history", "256"]) as node:
        world = bootstrap(connect(node.rpc_url))
        flow = Flow(world.deployment)
        token, withdrawn = listed_token(world), listed_token(world)
        seqs = {"P-TOKEN": requested(paid_in(world, token), world, single_stage("P-TOKEN"))}
        world.admin.transact(token.functions.setBroken(True))  # a paused or blacklisting token: transfers revert
        seqs["U-ASSET"] = requested(paid_in(world, withdrawn), world, single_stage("U-ASSET"), withdraw=withdrawn)
        seqs[NOT_TEXT] = requested(flow, world, single_stage(NOT_TEXT))
        seqs["H-FIRST"] = requested(flow, world, single_stage("H-FIRST"))
        node_rpc(node.rpc_url, "anvil_mine", [hex(6_000)], timeout=600)  # beyond one read of the chain (5,000)
        seqs["H-LATER"] = requested(flow, world, single_stage("H-LATER"))
        yield Poisoned(node, world, flow, token, withdrawn, seqs)


@pytest.fixture
def chain(poisoned: Poisoned) -> Iterator[Poisoned]:
    """The poisoned chain, every change a test makes (the bot's releases) rolled back afterwards."""
    snapshot = poisoned.node.snapshot()
    yield dataclasses.replace(poisoned, flow=Flow(poisoned.world.deployment))  # fresh nonces after each revert
    poisoned.node.revert(snapshot)
    poisoned.world.admin.resync()


def test_poison_events_leave_both_honest_payments_released_and_posted(chain: Poisoned, ledger_url: str) -> None:
    world, flow = chain.world, chain.flow
    operator = flow.institution(world.bank).address
    sent = world.w3.eth.get_transaction_count(operator)
    database = open_database(ledger_url)
    listeners = engine(world, flow, database)
    catch_up(listeners)

    # the bot: a decision for every request; the failing token's release refused with its reason, sent once
    made = decisions(database)
    assert {number: action for number, (action, _, _) in made.items()} == {
        "P-TOKEN": REFUSED, "U-ASSET": RELEASED, NOT_TEXT: RELEASED, "H-FIRST": RELEASED, "H-LATER": RELEASED,
    }  # fmt: skip
    assert made["P-TOKEN"][1].startswith("release transaction reverted:")
    assert world.w3.eth.get_transaction_count(operator) == sent + 5  # one release each, the failed one included
    world.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    catch_up(listeners)
    assert world.w3.eth.get_transaction_count(operator) == sent + 5  # not sent again
    reader = ChainReader(world.deployment)
    assert reader.payment("P-TOKEN", chain.seqs["P-TOKEN"]).status is VoucherStatus.REQUESTED  # still frozen

    # the books: honest payments and the hex-numbered contract posted on both sides; the payment in an asset the
    # deployment no longer accepts quarantined, not posted; the failing token's freeze (an accepted asset) posted
    a_books, b_books = posted(database, world.a.org_id), posted(database, world.b.org_id)
    for number in ("H-FIRST", "H-LATER", NOT_TEXT):
        assert [kind for kind, posted_for in a_books if posted_for == number] == [FREEZE, PAYMENT]
        assert [kind for kind, posted_for in b_books if posted_for == number] == [RECEIPT]
    assert [kind for kind, posted_for in a_books if posted_for == "P-TOKEN"] == [FREEZE]
    assert "U-ASSET" not in {posted_for for _, posted_for in a_books + b_books}
    held = quarantined(database)
    assert [(item.consumer, item.event) for item in held] == [
        (f"accounting-{world.a.org_id}", "PaymentVoucherIssued"),
        (f"accounting-{world.a.org_id}", "SecondVoucher"),
        (f"accounting-{world.b.org_id}", "SecondVoucher"),
    ]
    assert all(item.error_type == "AssetNotAccepted" and "asset not accepted" in item.error for item in held)
    report = reconcile(reader.second_vouchers(), database, decimals=2)
    assert [contract.contract_no for contract in report.contracts if contract.mismatches] == ["U-ASSET"]

    # /metrics counts them and /healthz flags them, staying 200: the consumers carried on
    port = free_port()
    server = serve(port, listeners.all_metrics, max_lag=10)
    try:
        health = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.status == 200
        body = health.read().decode()
        assert f"accounting-{world.a.org_id}: ok, lag 0 blocks; 2 events quarantined" in body
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert f'collab_listener_quarantined{{consumer="accounting-{world.a.org_id}"}} 2.0' in metrics
        assert f'collab_listener_quarantined{{consumer="accounting-{world.b.org_id}"}} 1.0' in metrics
    finally:
        server.shutdown()


def test_quarantined_events_are_posted_on_retry_once_the_cause_clears(chain: Poisoned, ledger_url: str) -> None:
    world, flow = chain.world, chain.flow
    database = open_database(ledger_url)
    listeners = engine(world, flow, database)
    catch_up(listeners)
    assert len(quarantined(database)) == 3
    assert request_retry(database) == 3  # still not accepted: they fail again and stay
    catch_up(listeners)
    assert [item.attempts for item in quarantined(database)] == [2, 2, 2]

    # governance accepts the asset again; the operator asks for a retry (collab quarantine retry)
    world.admin.transact(world.deployment.registry.functions.setAssetAccepted(chain.withdrawn.address, True))
    catch_up(listeners)
    assert request_retry(database, f"accounting-{world.a.org_id}") == 2
    catch_up(listeners)
    assert [item.consumer for item in quarantined(database)] == [f"accounting-{world.b.org_id}"]
    assert request_retry(database) == 1
    catch_up(listeners)
    assert quarantined(database) == []
    assert [kind for kind, number in posted(database, world.a.org_id) if number == "U-ASSET"] == [FREEZE, PAYMENT]
    assert [kind for kind, number in posted(database, world.b.org_id) if number == "U-ASSET"] == [RECEIPT]
    assert all(consumer.metrics.quarantined.value == 0 for consumer in listeners.consumers)


def test_a_suspended_beneficiary_is_deferred_and_released_once_reinstated(
    world: World, flow: Flow, ledger_url: str
) -> None:
    suspended, honest = single_stage("D-SUSPENDED"), single_stage("D-HONEST")
    requested(flow, world, suspended)
    world.admin.transact(world.deployment.registry.functions.setOrgActive(world.b.org_id, False))
    database = open_database(ledger_url)
    listeners = engine(world, flow, database)
    catch_up(listeners)
    action, reason, _ = decisions(database)["D-SUSPENDED"]
    assert (action, reason) == (DEFERRED, f"beneficiary org {world.b.org_id} is suspended")
    catch_up(listeners)  # checked again: still suspended, still deferred, nothing sent
    assert decisions(database)["D-SUSPENDED"][0] == DEFERRED

    world.admin.transact(world.deployment.registry.functions.setOrgActive(world.b.org_id, True))
    requested(flow, world, honest)
    catch_up(listeners)
    action, reason, attempts = decisions(database)["D-SUSPENDED"]
    assert (action, reason) == (RELEASED, "")
    assert attempts >= 3
    assert decisions(database)["D-HONEST"] == (RELEASED, "", 1)
    assert (RECEIPT, "D-SUSPENDED") in posted(database, world.b.org_id)


def test_a_deferred_request_waits_out_its_backoff_across_a_restart(world: World, flow: Flow, ledger_url: str) -> None:
    """The backoff is kept in the request's row: a restarted bot does not check it early, even once the cause has
    cleared, and checks it as soon as it is due."""
    draft = single_stage("D-BACKOFF")
    requested(flow, world, draft)
    database = open_database(ledger_url)

    def patient() -> ListenerEngine:
        listeners = engine(world, flow, database)
        bot = listeners.consumers[-1].handler
        assert isinstance(bot, InstitutionBot)
        bot.recheck_after = 3_600
        return listeners

    world.admin.transact(world.deployment.registry.functions.setOrgActive(world.b.org_id, False))
    catch_up(patient())
    world.admin.transact(world.deployment.registry.functions.setOrgActive(world.b.org_id, True))
    assert decisions(database)["D-BACKOFF"] == (DEFERRED, f"beneficiary org {world.b.org_id} is suspended", 1)
    restarted = patient()
    catch_up(restarted)
    assert decisions(database)["D-BACKOFF"][::2] == (DEFERRED, 1)  # due in an hour: not checked yet

    with database.begin() as connection:  # the hour passes
        connection.execute(update(institution_actions).values(recheck_at=institution_actions.c.recheck_at - 3_600))
    catch_up(restarted)
    assert decisions(database)["D-BACKOFF"] == (RELEASED, "", 2)


def test_the_bots_step_reads_only_the_requests_due_through_an_index() -> None:
    """However many requests wait, a step reads a range of one index (SQLite's plan), in the order it needs."""
    database = open_database("sqlite://")
    query = due_requests(1_800_000_000.0).compile(dialect=database.dialect, compile_kwargs={"literal_binds": True})
    with database.connect() as connection:
        plan = [row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}")]
    assert plan == ["SEARCH institution_actions USING INDEX ix_institution_actions_due (action=? AND recheck_at<?)"]


def test_a_release_the_node_did_not_take_is_deferred_then_released(
    world: World, flow: Flow, ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    draft = single_stage("D-NODE")
    seq = requested(flow, world, draft)
    database = open_database(ledger_url)
    listeners = engine(world, flow, database)
    operator = flow.institution(world.bank)
    real = operator.execute_each
    monkeypatch.setattr(
        operator, "execute_each", lambda steps: [StepOutcome(None, None, NodeUnreachable("connection refused"))]
    )
    catch_up(listeners)
    action, reason, _ = decisions(database)["D-NODE"]
    assert (action, reason) == (DEFERRED, "node error (release transaction): NodeUnreachable: connection refused")
    monkeypatch.setattr(operator, "execute_each", real)
    catch_up(listeners)
    assert decisions(database)["D-NODE"][:2] == (RELEASED, "")
    assert ChainReader(world.deployment).payment(draft.number, seq).status is VoucherStatus.RELEASED
    with database.connect() as connection:
        assert connection.execute(select(func.count()).select_from(institution_actions)).scalar() == 1


def test_a_manual_release_applies_the_bots_checks(world: World, flow: Flow) -> None:
    """``InstitutionService.release`` (``collab payment release``) refuses what the bot refuses."""
    draft = single_stage("M-SUSPENDED")
    seq = requested(flow, world, draft)
    world.admin.transact(world.deployment.registry.functions.setOrgActive(world.b.org_id, False))
    with pytest.raises(ReleaseRefused, match="is suspended") as refused:
        flow.institution(world.bank).release(draft.number, seq)
    assert refused.value.temporary
    voucher = world.deployment.escrow.functions.voucherOf(payment_voucher_id(draft.contract_no, seq)).call()
    assert voucher[1] == VoucherStatus.REQUESTED
