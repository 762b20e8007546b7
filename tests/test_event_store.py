"""Issue 9, the event store: one sync per ledger database stores every event of our contracts once, with its block
hash; a reorg flags rows and appends markers, deleting nothing, and reaches every consumer — even one that starts
later — as reversals in sequence; readers beside a ledger read the store by key, never the chain from the
deployment block; a ledger the previous engine wrote to is refused by the migration. SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from eth_account import Account
from prometheus_client import generate_latest
from sqlalchemy import Connection, Engine, event, func, select, text, update

from collab_py.chain.deploy import Deployment, deploy
from collab_py.chain.enums import OrgKind, VoucherStatus
from collab_py.chain.logs import RawLog, StoreRow
from collab_py.chain.transactor import Transactor, connect
from collab_py.devnet.flow import Flow
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.parties import Party, fund_on_dev_node
from collab_py.devnet.proxy import RpcProxy
from collab_py.devnet.sandbox import sample_contract
from collab_py.domain.types import payment_voucher_id
from collab_py.ledger import store
from collab_py.ledger.database import DatabaseError, alembic_config, open_database
from collab_py.ledger.schema import ORPHANED, PAYMENT, REVERSAL, chain_log, journal_entries, sync_state
from collab_py.ledger.store import StoreLogSource
from collab_py.listener.consumer import Consumer
from collab_py.listener.engine import Engine as ListenerEngine
from collab_py.listener.handlers.institution import due_requests
from collab_py.listener.sync import LedgerOfAnotherDeployment, ListenerConfig, Sync
from collab_py.services.reader import ChainReader, chain_source
from support import World, applied, bookkeeper, catch_up, issued, released, settled

CONFIG = ListenerConfig(confirmations=0, poll_interval=0.01)


def synced(world: World, database: Engine, deployment: Deployment | None = None) -> Sync:
    sync = Sync(world.w3, deployment or world.deployment, database, CONFIG)
    while not sync.step():
        pass
    return sync


def rows(database: Engine) -> list[tuple[int, str, bool]]:
    log = chain_log.c
    with database.connect() as connection:
        found = connection.execute(select(log.id, log.event, log.orphaned).order_by(log.id)).all()
    return [(int(row_id), event, bool(orphaned)) for row_id, event, orphaned in found]


def posted(database: Engine, org_id: int) -> list[str]:
    entries = journal_entries.c
    with database.connect() as connection:
        return list(
            connection.execute(select(entries.kind).where(entries.org_id == org_id).order_by(entries.id)).scalars()
        )


@pytest.fixture
def counting(node: AnvilNode, world: World) -> Iterator[RpcProxy]:
    """A proxy in front of the session's node counting the reads of logs from the deployment block."""
    with RpcProxy(node.rpc_url, full_range_from=world.deployment.manifest.deployment_block) as proxy:
        yield proxy


def test_the_sync_stores_every_event_of_both_contracts_once(world: World, flow: Flow, ledger_url: str) -> None:
    draft = sample_contract("S-1")
    released(flow, world, draft)
    flow.finance(world.b).issue_invoice(draft.number, 1, invoice_no="INV-S-1", tax=0)
    database = open_database(ledger_url)
    sync = synced(world, database)

    on_chain = chain_source(world.deployment).query(sync.codec.names)
    stored = StoreLogSource(database, world.deployment.manifest.chain_id, sync.codec).query(sync.codec.names)
    assert stored == on_chain  # every event, decoded the same, with its evidence
    assert {event.name for event in stored} >= {
        "OrgRegistered", "AssetAcceptanceChanged", "ContractProposed", "ContractSigned", "FirstVoucherIssued",
        "PaymentApplied", "PaymentVoucherIssued", "PaymentRequested", "SecondVoucher", "InvoiceAnchored",
    }  # fmt: skip
    before = rows(database)
    start = world.deployment.manifest.deployment_block - 1
    with database.begin() as connection:  # as if the sync's position had not been written: the logs come again
        connection.execute(
            update(sync_state).values(block_number=start, block_hash=bytes(world.w3.eth.get_block(start)["hash"]))
        )
    again = synced(world, database)
    assert rows(database) == before
    assert again.metrics.duplicates._value.get() == len(before)  # type: ignore[attr-defined]


def test_the_sync_reports_the_most_logs_one_read_held(world: World, flow: Flow, tmp_path: Path) -> None:
    """``collab_listener_read_logs_max``: what a read holds in memory while it is decoded, which ``--chunk-blocks``
    bounds on a chain whose transactions come in bursts."""
    released(flow, world, sample_contract("S-READS"))
    sync = Sync(world.w3, world.deployment, open_database(f"sqlite:///{tmp_path / 'ledger.db'}"), CONFIG)
    held: list[int] = []
    fetch = sync.reader.fetch

    def counted(first: int, last: int) -> list[RawLog]:
        logs = fetch(first, last)
        held.append(len(logs))
        return logs

    sync.reader.fetch = counted  # type: ignore[method-assign]
    while not sync.step():
        pass
    sync.close()
    assert len(held) > 1
    assert max(held) > 0
    assert sync.metrics.read_logs_max.value == max(held)
    exported = generate_latest(sync.metrics.registry).decode()
    assert f'collab_listener_read_logs_max{{consumer="sync"}} {float(max(held))}' in exported


def test_a_reorg_flags_rows_and_appends_markers_and_reaches_consumers_in_sequence(
    world: World, node: AnvilNode, flow: Flow, ledger_url: str
) -> None:
    draft = sample_contract("S-2")
    seq, _ = issued(flow, world, draft)
    flow.finance(world.b).redeem(draft.number, seq)
    database = open_database(ledger_url)
    sync = Sync(world.w3, world.deployment, database, CONFIG)
    a_books = Consumer(database, "accounting-a", bookkeeper(world, world.a.org_id), sync.codec, sync.chain_id)
    engine = ListenerEngine(sync, [a_books])
    fork = node.snapshot()
    flow.institution(world.bank).release(draft.number, seq)
    catch_up(engine)
    before = rows(database)
    (released_at,) = [row_id for row_id, event, _ in before if event == "SecondVoucher"]

    node.revert(fork)  # the release's block is orphaned; the chain grows past it without the release
    node.increase_time(5)
    for _ in range(3):
        node.mine()
    catch_up(engine)
    after = rows(database)
    assert after[: len(before)] == [(i, e, o or i == released_at) for i, e, o in before]  # flagged, none deleted
    (marker,) = after[len(before) :]
    assert marker[1:] == (ORPHANED, False)
    with database.connect() as connection:
        args = connection.execute(select(chain_log.c.args).where(chain_log.c.id == marker[0])).scalar_one()
    assert args == {"event_id": released_at, "event": "SecondVoucher"}
    assert posted(database, world.a.org_id) == ["FREEZE", PAYMENT, REVERSAL]
    assert sync.metrics.reorgs._value.get() == 1  # type: ignore[attr-defined]

    flow.institution(world.bank).tx.resync()
    flow.institution(world.bank).release(draft.number, seq)  # mined again on the new chain: a new row
    catch_up(engine)
    assert [event for _, event, orphaned in rows(database) if event == "SecondVoucher" and not orphaned] == [
        "SecondVoucher"
    ]
    assert posted(database, world.a.org_id) == ["FREEZE", PAYMENT, REVERSAL, PAYMENT]

    # a consumer that starts now meets the same history in order: posted, reversed, posted again
    late = Consumer(database, "accounting-late", bookkeeper(world, world.a.org_id), sync.codec, sync.chain_id)
    while not late.step():
        pass
    entries = journal_entries.c
    with database.connect() as connection:
        kinds = connection.execute(
            select(entries.kind).where(entries.org_id == world.a.org_id).order_by(entries.id)
        ).scalars()
        assert list(kinds)[-4:] == ["FREEZE", PAYMENT, REVERSAL, PAYMENT]  # the late consumer's own postings


def test_a_reader_beside_a_ledger_reads_the_store_by_key_not_the_chain_from_the_deployment(
    world: World, flow: Flow, ledger_url: str, counting: RpcProxy
) -> None:
    draft = sample_contract("S-3")
    seq = released(flow, world, draft)
    flow.finance(world.b).issue_invoice(draft.number, seq, invoice_no="INV-S-3", tax=0)
    deployment = Deployment.attach(connect(counting.url), world.deployment.manifest)
    database = open_database(ledger_url)
    sync = synced(world, database, deployment)
    later = sample_contract("S-4")  # after the sync's last step: the store does not hold it yet
    seq_later, _ = issued(flow, world, later)
    counting.reset()
    tail = chain_source(deployment)
    from_store = ChainReader(deployment, StoreLogSource(database, sync.chain_id, sync.codec, tail))
    records = [
        from_store.agreement(draft.number),
        from_store.payment(draft.number, seq),
        from_store.second_voucher_of(draft.number, seq),
        from_store.invoice(draft.number, seq),
        from_store.payment(later.number, seq_later),  # its events from the chain after the sync's block
    ]
    assert counting.getlogs_full_range == 0
    assert counting.calls["eth_getLogs"] == 1  # the one key the store lacked, from the chain after the sync's block
    from_chain = ChainReader(world.deployment)
    assert records == [
        from_chain.agreement(draft.number),
        from_chain.payment(draft.number, seq),
        from_chain.second_voucher_of(draft.number, seq),
        from_chain.invoice(draft.number, seq),
        from_chain.payment(later.number, seq_later),
    ]
    assert from_store.second_vouchers() == from_chain.second_vouchers()


def test_a_current_reader_sees_a_known_key_s_events_after_the_sync_s_block(
    world: World, flow: Flow, ledger_url: str, counting: RpcProxy
) -> None:
    draft = sample_contract("S-6")
    settled(flow, world, draft)
    seq = applied(flow, world, draft, draft.total)
    deployment = Deployment.attach(connect(counting.url), world.deployment.manifest)
    database = open_database(ledger_url)
    sync = synced(world, database, deployment)  # the store holds the application
    flow.finance(world.a).issue_voucher(draft.number, seq)  # after the sync's block
    tail = chain_source(deployment)
    late = ChainReader(deployment, StoreLogSource(database, sync.chain_id, sync.codec, tail))
    current = ChainReader(deployment, StoreLogSource(database, sync.chain_id, sync.codec, tail, current=True))
    assert late.payment(draft.number, seq).expiry is None  # a consumer's view: the voucher's event is not stored yet
    counting.reset()
    now = current.payment(draft.number, seq)
    assert now == ChainReader(world.deployment).payment(draft.number, seq)
    assert (now.status, now.expiry is not None) == (VoucherStatus.FROZEN, True)
    # the blocks after the sync's, not the history
    assert (counting.calls["eth_getLogs"], counting.getlogs_full_range) == (1, 0)
    catch_up(ListenerEngine(sync, []))
    counting.reset()
    assert current.payment(draft.number, seq) == now  # from the store alone
    assert counting.calls["eth_getLogs"] == 0


def test_a_current_read_during_a_sync_step_misses_nothing(
    world: World, flow: Flow, ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync step that commits while a read is under way (between its reads of the store: two snapshots on
    PostgreSQL) leaves the step's events to the read of the chain after the sync's block, not to neither."""
    draft = sample_contract("S-6b")
    settled(flow, world, draft)
    seq = applied(flow, world, draft, draft.total)
    database = open_database(ledger_url)
    sync = synced(world, database)  # the store holds the application
    flow.finance(world.a).issue_voucher(draft.number, seq)  # after the sync's block
    source = StoreLogSource(database, sync.chain_id, sync.codec, chain_source(world.deployment), current=True)
    read_position = store.sync_position
    stepped: list[bool] = []

    def step_meanwhile(connection: Connection, chain_id: int, lock: bool = False) -> tuple[int, bytes] | None:
        if not stepped:  # the reader's read: the sync stores the voucher's block just now (its own reads pass)
            stepped.append(True)
            catch_up(ListenerEngine(sync, []))
        return read_position(connection, chain_id, lock=lock)

    monkeypatch.setattr(store, "sync_position", step_meanwhile)
    found = source.query(["PaymentApplied", "PaymentVoucherIssued"], [payment_voucher_id(draft.contract_no, seq)])
    assert stepped
    assert [event.name for event in found] == ["PaymentApplied", "PaymentVoucherIssued"]


def test_a_ledger_follows_one_deployment_and_halts_for_another_on_the_same_chain(
    world: World, flow: Flow, ledger_url: str
) -> None:
    released(flow, world, sample_contract("S-7"))
    database = open_database(ledger_url)
    synced(world, database)
    deployer = Account.create()
    fund_on_dev_node(world.w3, [deployer])
    bank = Party.generate(900, "Another bank", OrgKind.PAYMENT_INSTITUTION)
    other = deploy(
        Transactor(world.w3, deployer), institution=bank.registration(), asset=world.deployment.asset.address
    )
    engine = ListenerEngine(Sync(world.w3, other, database, ListenerConfig(confirmations=0)), [])
    with pytest.raises(LedgerOfAnotherDeployment, match=world.deployment.registry.address[2:].lower()):
        engine.run(threading.Event())
    assert isinstance(engine.halted, LedgerOfAnotherDeployment)
    assert engine.sync.metrics.healthy(10) == (False, "halted for an operator (see the log)")
    with database.begin() as connection:  # a ledger of before the check (revision 0006) takes the first it meets
        connection.execute(update(sync_state).values(registry=None, escrow=None))
    catch_up(ListenerEngine(Sync(world.w3, world.deployment, database, ListenerConfig(confirmations=0)), []))
    with pytest.raises(LedgerOfAnotherDeployment):
        Sync(world.w3, other, database, ListenerConfig(confirmations=0)).step()


def test_a_consumer_added_later_reads_the_store_not_the_chain(
    world: World, flow: Flow, ledger_url: str, counting: RpcProxy
) -> None:
    released(flow, world, sample_contract("S-5"))
    deployment = Deployment.attach(connect(counting.url), world.deployment.manifest)
    database = open_database(ledger_url)
    sync = synced(world, database, deployment)
    counting.reset()
    b_books = Consumer(database, "accounting-b", bookkeeper(world, world.b.org_id), sync.codec, sync.chain_id)
    catch_up(ListenerEngine(sync, [b_books]))
    assert posted(database, world.b.org_id) == ["RECEIPT"]
    assert counting.calls["eth_getLogs"] == 0  # the store had everything


def test_a_ledger_of_the_previous_engine_is_refused_and_an_empty_one_upgraded(ledger_url: str) -> None:
    database = open_database(ledger_url, migrate=False)
    with database.begin() as connection:
        command.upgrade(alembic_config(connection), "0003")
    with database.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO chain_events (consumer, chain_id, tx_hash, log_index, block_number, block_hash, event, "
                "args, orphaned) VALUES ('accounting-1', 1, :hash, 0, 1, :hash, 'SecondVoucher', '{}', false)"
            ),
            {"hash": bytes(32)},
        )
    with pytest.raises(DatabaseError, match="keep it as their archive and point COLLAB_LEDGER_URL at a new database"):
        open_database(ledger_url)
    with database.begin() as connection:
        connection.execute(text("DELETE FROM chain_events"))
    upgraded = open_database(ledger_url)
    with upgraded.connect() as connection:
        assert connection.execute(select(func.count()).select_from(chain_log)).scalar() == 0
    with upgraded.begin() as connection:  # and back, while the store is empty
        command.downgrade(alembic_config(connection), "0003")
        command.upgrade(alembic_config(connection), "head")


def test_a_deferred_request_of_an_older_ledger_is_due_once_upgraded(ledger_url: str) -> None:
    database = open_database(ledger_url, migrate=False)
    with database.begin() as connection:
        command.upgrade(alembic_config(connection), "0007")
        request = StoreRow(1, bytes(32), bytes(32), 0, "PaymentRequested", None, None, None, "{}")
        store.append(connection, 1, [request, request._replace(log_index=1)])
        for event_id, action in enumerate(("DEFERRED", "RELEASED"), start=1):
            connection.execute(
                text(
                    "INSERT INTO institution_actions (event_id, voucher_id, contract_no, seq, action, reason, attempts)"
                    " VALUES (:id, :voucher, 'HT-1', 1, :action, '', 1)"
                ),
                {"id": event_id, "voucher": bytes(32), "action": action},
            )
    upgraded = open_database(ledger_url)
    with upgraded.connect() as connection:
        assert [row.id for row in connection.execute(due_requests(0.0))] == [1]


def test_store_keys_are_the_events_own(world: World, flow: Flow, ledger_url: str) -> None:
    """The contract number, voucher id and seq copied out of each event for the indexed reads."""
    draft = sample_contract("S-6")
    seq = released(flow, world, draft)
    database = open_database(ledger_url)
    synced(world, database)
    with database.connect() as connection:
        found = store.find_events(connection, ["SecondVoucher", "PaymentApplied"], contract_nos=[draft.contract_no])
        log = chain_log.c
        keys = connection.execute(
            select(log.event, log.seq).where(log.contract_no == draft.contract_no).order_by(log.id)
        ).all()
    assert [row.event for row in found] == ["PaymentApplied", "SecondVoucher"]
    assert ("SecondVoucher", seq) in [tuple(key) for key in keys]
    assert ("ContractProposed", None) in [tuple(key) for key in keys]


def test_each_read_of_the_sync_on_sqlite_goes_through_an_index(world: World, tmp_path: Path) -> None:
    """Cost per step independent of the store's size: every query the sync makes, a reorg's included, is planned as
    an index search, not a scan of ``chain_log`` (SQLite did not see that ``NOT orphaned`` or ``orphaned IS 0`` meets
    the partial index's ``orphaned = 0`` and scanned 500,000 rows, 0.4 s, at every step after 100,000 payments)."""
    database = open_database(f"sqlite:///{tmp_path / 'ledger.db'}")
    released(Flow(world.deployment), world, sample_contract("IX-1"))
    statements: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "chain_log" in statement and statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(database, "before_cursor_execute", note)
    sync = synced(world, database)
    with database.connect() as connection:  # a reorg's read of the events it orphans, rolled back
        store.orphan_after(connection, sync.chain_id, sync.position - 1)
    event.remove(database, "before_cursor_execute", note)
    assert statements
    with database.connect() as connection:
        for statement, parameters in statements:
            plan = " ".join(
                str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            )
            assert "SCAN chain_log" not in plan, f"{statement}: {plan}"
