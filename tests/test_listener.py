"""S8.1–S8.2, S8.4: accounting listeners on the listener engine — postings, exactly-once, reorgs, health,
reconciliation — on SQLite and PostgreSQL."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest
from sqlalchemy import func, select, update
from web3.exceptions import Web3RPCError

from collab_py.chain.logs import LogReader
from collab_py.devnet.flow import Flow
from collab_py.devnet.node import AnvilNode, free_port
from collab_py.devnet.sandbox import sample_contract
from collab_py.ledger.database import open_database
from collab_py.ledger.integrity import ChainEvidence, require_intact
from collab_py.ledger.queries import journal
from collab_py.ledger.reconcile import reconcile
from collab_py.ledger.schema import (
    ASSIGNMENT,
    FREEZE,
    PAYMENT,
    RECEIPT,
    RECLAIM,
    REVERSAL,
    chain_log,
    journal_lines,
    sync_state,
)
from collab_py.listener.engine import Listener, ListenerConfig, ReorgTooDeep
from collab_py.listener.factory import ListenerSpec, MissingService, Role, build_listener
from collab_py.listener.handlers import LoggedAmounts
from collab_py.listener.handlers.accounting import AccountingHandler
from collab_py.listener.heads import HeadWatcher
from collab_py.listener.health import serve
from collab_py.listener.runtime import ListenerThread
from collab_py.services import FinanceService
from collab_py.services.reader import ChainReader
from support import World, accounting, advance, assigned, bookkeeper, catch_up, entries, issued, released


def test_both_books_posted_balanced_and_reconciled(world: World, flow: Flow, ledger_url: str) -> None:
    draft = sample_contract("L-1")
    released(flow, world, draft)
    # a second contract whose key goes to Party C, and a third whose key expires and is reclaimed
    to_c = sample_contract("L-2")
    seq, _ = issued(flow, world, to_c, amount=1_000_00)
    assigned(flow, world, to_c, seq)
    flow.institution(world.bank).release("L-2", seq)
    expiring = sample_contract("L-3")
    seq, _ = issued(flow, world, expiring, amount=500_00, lifetime=60)
    advance(world, 61)
    flow.finance(world.a).reclaim("L-3", seq)

    database = open_database(ledger_url)
    for org in (world.a, world.b, world.c):
        catch_up(accounting(world, database, org.org_id))

    total = draft.total
    assert entries(database, world.a.org_id) == [
        (FREEZE, "L-1", total), (PAYMENT, "L-1", total),
        (FREEZE, "L-2", 1_000_00), (PAYMENT, "L-2", 1_000_00),
        (FREEZE, "L-3", 500_00), (RECLAIM, "L-3", 500_00),
    ]  # fmt: skip
    assert entries(database, world.b.org_id) == [(RECEIPT, "L-1", total), (RECEIPT, "L-2", 1_000_00)]
    assert entries(database, world.c.org_id) == [(ASSIGNMENT, "L-2", 1_000_00)]
    lines = journal(database)
    for entry_id in {line.entry_id for line in lines}:
        mine = [line for line in lines if line.entry_id == entry_id]
        assert sum(line.debit for line in mine) == sum(line.credit for line in mine) > 0
    b_receipt_to_c = [line for line in lines if line.org_id == world.b.org_id and line.contract_no == "L-2"]
    assert b_receipt_to_c[0].account == f"2241 Intercompany payable - org {world.c.org_id}"

    report = reconcile(ChainReader(world.deployment).second_vouchers(), database, decimals=2)
    assert report.clean, report
    assert [(c.contract_no, c.on_chain, c.payable_posted, c.receivable_posted) for c in report.contracts] == [
        ("L-1", total, total, total),
        ("L-2", 1_000_00, 1_000_00, 1_000_00),
    ]


def test_events_delivered_again_are_ignored(world: World, flow: Flow, ledger_url: str) -> None:
    released(flow, world, sample_contract("L-4"))
    database = open_database(ledger_url)
    listener = accounting(world, database, world.a.org_id)
    catch_up(listener)
    before = entries(database, world.a.org_id)
    start = world.deployment.manifest.deployment_block - 1
    with database.begin() as connection:  # as if the checkpoint had not been written: the same logs come again
        connection.execute(
            update(sync_state).values(block_number=start, block_hash=bytes(world.w3.eth.get_block(start)["hash"]))
        )
    restarted = accounting(world, database, world.a.org_id)
    catch_up(restarted)
    assert entries(database, world.a.org_id) == before
    assert restarted.sync.metrics.duplicates._value.get() > 0  # type: ignore[attr-defined]


def test_missing_checkpoint_starts_at_the_deployment_block(world: World, ledger_url: str) -> None:
    database = open_database(ledger_url)
    listener = accounting(world, database, world.a.org_id, chunk_blocks=1)
    deployed = world.deployment.manifest.deployment_block
    assert world.w3.eth.block_number > deployed + 1
    listener.step()
    with database.connect() as connection:
        checkpoint = connection.execute(select(sync_state.c.block_number)).scalar_one()
    assert checkpoint == deployed  # started just below the deployment block, not at the head


def test_reorg_within_the_window_reverses_and_reposts(
    world: World, node: AnvilNode, flow: Flow, ledger_url: str
) -> None:
    draft = sample_contract("L-5")
    seq, _ = issued(flow, world, draft)
    flow.finance(world.b).redeem(draft.number, seq)
    database = open_database(ledger_url)
    listener = accounting(world, database, world.a.org_id, window=64)
    fork = node.snapshot()
    flow.institution(world.bank).release(draft.number, seq)
    catch_up(listener)
    assert entries(database, world.a.org_id)[-1] == (PAYMENT, "L-5", draft.total)

    node.revert(fork)  # the release's block is orphaned; the chain grows past it without the release
    node.increase_time(5)
    for _ in range(3):
        node.mine()
    catch_up(listener)
    assert entries(database, world.a.org_id)[-2:] == [(PAYMENT, "L-5", draft.total), (REVERSAL, "L-5", draft.total)]
    with database.connect() as connection:
        orphaned = connection.execute(select(func.count()).where(chain_log.c.orphaned.is_(True))).scalar()
    assert orphaned == 1
    assert listener.sync.metrics.reorgs._value.get() == 1  # type: ignore[attr-defined]

    flow.institution(world.bank).tx.resync()
    flow.institution(world.bank).release(draft.number, seq)  # the release is mined again on the new chain: posted again
    catch_up(listener)
    assert entries(database, world.a.org_id)[-1] == (PAYMENT, "L-5", draft.total)
    report = reconcile(ChainReader(world.deployment).second_vouchers(), database, database, decimals=2)
    assert [contract.payable_posted for contract in report.contracts] == [draft.total]
    # FREEZE, the orphaned PAYMENT and its REVERSAL (whose log is no longer on chain), the PAYMENT mined again
    assert require_intact(database, ChainEvidence.of(world.deployment)).entries == 4


def test_reorg_deeper_than_the_window_halts(world: World, node: AnvilNode, ledger_url: str) -> None:
    database = open_database(ledger_url)
    listener = accounting(world, database, world.a.org_id, window=2, chunk_blocks=1)
    fork = node.snapshot()
    for _ in range(6):
        node.mine()
    catch_up(listener)
    node.revert(fork)
    node.increase_time(5)  # other timestamps: other blocks, not the same ones mined again
    for _ in range(8):
        node.mine()
    with pytest.raises(ReorgTooDeep, match="operator action needed"):
        catch_up(listener)
    port = free_port()
    listener.metrics.halted.set(1)
    server = serve(port, [listener.metrics], max_lag=10)
    try:
        with pytest.raises(urllib.error.HTTPError) as unhealthy:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert unhealthy.value.code == 503
        assert b"halted" in unhealthy.value.read()
    finally:
        server.shutdown()


def test_health_and_metrics_endpoints(world: World, flow: Flow, ledger_url: str) -> None:
    released(flow, world, sample_contract("L-6"))
    database = open_database(ledger_url)
    listener = accounting(world, database, world.b.org_id)
    catch_up(listener)
    port = free_port()
    server = serve(port, [listener.metrics], max_lag=10)
    try:
        health = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.status == 200
        assert health.read() == b"ok, lag 0 blocks"
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert f'collab_listener_postings_total{{consumer="accounting-{world.b.org_id}"}} 1.0' in metrics
        assert "collab_listener_lag_blocks" in metrics
        listener.metrics.lag.set(11)
        with pytest.raises(urllib.error.HTTPError) as lagging:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert lagging.value.code == 503
    finally:
        server.shutdown()


def test_log_ranges_the_node_refuses_are_halved(world: World, flow: Flow) -> None:
    released(flow, world, sample_contract("L-7"))

    class Picky(LogReader):
        """A node that refuses queries of more than 4 blocks, as hosted providers do."""

        def _query(self, start: int, end: int):  # type: ignore[no-untyped-def]
            if end - start >= 4:
                raise Web3RPCError("query returned more than 10000 results")
            return super()._query(start, end)

    listener = accounting(world, open_database("sqlite://"), world.a.org_id)
    everything = listener.reader.fetch(0, world.w3.eth.block_number)
    picky = Picky(world.w3, [world.deployment.registry.address, world.deployment.escrow.address], listener.codec.topics)
    assert picky.fetch(0, world.w3.eth.block_number) == everything
    assert len(everything) >= 3


def test_lines_balance_in_the_database(world: World, flow: Flow, ledger_url: str) -> None:
    released(flow, world, sample_contract("L-8"))
    database = open_database(ledger_url)
    catch_up(accounting(world, database, world.a.org_id))
    with database.connect() as connection:
        lines = connection.execute(select(journal_lines.c.debit, journal_lines.c.credit)).all()
    assert sum(line.debit for line in lines) == sum(line.credit for line in lines) == 2 * sample_contract().total


def test_new_heads_wake_a_listener_before_its_next_poll(world: World, node: AnvilNode, flow: Flow) -> None:
    heads = HeadWatcher(node.ws_url).start()
    database = open_database("sqlite://")
    config = ListenerConfig(confirmations=0, poll_interval=30.0)  # it would not poll again within the test
    handler = bookkeeper(world, world.a.org_id)
    thread = ListenerThread(
        Listener(world.w3, world.deployment, database, "accounting", handler, config, heads=heads)
    ).start()
    try:
        thread.wait_until(world.w3.eth.block_number, timeout=10)
        released(flow, world, sample_contract("L-9"))
        started = time.monotonic()
        thread.wait_until(world.w3.eth.block_number, timeout=5)
        assert time.monotonic() - started < 2.0
        assert heads.heads > 0
        assert [kind for kind, _, _ in entries(database, world.a.org_id)] == [FREEZE, PAYMENT]
    finally:
        thread.stop()
        heads.stop()


def test_a_listener_is_built_from_its_role_with_only_that_roles_service(world: World, flow: Flow) -> None:
    database = open_database("sqlite://")
    made: list[str] = []

    def finance() -> FinanceService:
        made.append("finance")
        return flow.finance(world.b)

    accounting = build_listener(ListenerSpec(Role.accounting, world.a.org_id), world.deployment, database)
    assert (accounting.consumer, type(accounting.handler)) == ("accounting-1", AccountingHandler)
    invoicing = build_listener(
        ListenerSpec(Role.invoicing, world.b.org_id), world.deployment, lambda: database, finance=finance
    )
    assert (invoicing.consumer, made) == ("invoicing-2", ["finance"])
    with pytest.raises(MissingService):
        build_listener(ListenerSpec(Role.institution, world.bank.org_id), world.deployment, database, finance=finance)


def test_log_lines_show_amounts_in_currency_units_or_name_token_units() -> None:
    asked: list[str] = []

    def decimals(asset: str) -> int:
        asked.append(asset)
        if asset == "0xbad":
            raise Web3RPCError("execution reverted")  # a token without decimals(), or a node error
        return 2

    shown = LoggedAmounts(decimals)
    assert (shown(100050, "0xaa"), shown(7, "0xaa")) == ("1,000.50", "0.07")
    assert shown(100050, "0xbad") == "100050 token units"  # the posting is logged all the same
    assert shown(1, "0xbad") == "1 token units"
    assert asked == ["0xaa", "0xbad"]  # each asset asked once
