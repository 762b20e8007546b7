"""Issue 9: on SQLite, an org's consumers run in one engine, the database's one writer, in short transactions, so
that no consumer starves another. Party B's accounting and invoicing share one SQLite ledger under load: invoicing
anchors hundreds of invoices (a transaction each) while a second wave of payments is released, and B's receipts
are still posted within seconds; nothing waits for a lock (no error retried), and a reader of the books beside the
engine is never held up."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import Engine, func, select

from collab_py.devnet.flow import Flow
from collab_py.devnet.load import Payment, released_payments
from collab_py.ledger.database import open_database
from collab_py.ledger.queries import journal
from collab_py.ledger.schema import RECEIPT, invoices, journal_entries
from collab_py.listener.factory import ListenerSpec, Role, build_engine
from collab_py.listener.handlers.invoicing import ISSUED
from collab_py.listener.runtime import ListenerThread
from collab_py.listener.sync import ListenerConfig
from support import World

#: Payments of each wave, and how long a receipt of the second wave may take while invoicing is busy.
WAVE, RECEIPT_BOUND_S = 300, 15.0


def count(database: Engine, query: object) -> int:
    with database.connect() as connection:
        return int(connection.execute(query).scalar_one())  # type: ignore[call-overload]


def release(world: World, flow: Flow, payments: list[Payment]) -> float:
    """Releases ``payments`` (pipelined, by the institution's operator); returns when the last was mined."""
    operator = flow.institution(world.bank)
    outcomes = operator.execute_each([operator.prepare_release(p.draft.contract_no, p.seq) for p in payments])
    assert all(outcome.receipt is not None for outcome in outcomes)
    return time.monotonic()


def test_accounting_is_not_starved_by_invoicing_on_one_sqlite_ledger(world: World, tmp_path: Path) -> None:
    payments = released_payments(world, 2 * WAVE, per_contract=100, prefix="W", release=False)
    first, second = payments[:WAVE], payments[WAVE:]
    flow = Flow(world.deployment)
    database = open_database(f"sqlite:///{tmp_path / 'b.db'}")
    config = ListenerConfig(confirmations=0, poll_interval=0.05)
    engine = build_engine(
        [ListenerSpec(Role.accounting, world.b.org_id, config=config), ListenerSpec(Role.invoicing, world.b.org_id)],
        world.deployment,
        database,
        finance=lambda: flow.finance(world.b),
    )
    durations: list[float] = []  # every consumer step: each is one write transaction (or none)
    for consumer in engine.consumers:
        step = consumer.step

        def timed(step=step) -> bool:  # type: ignore[no-untyped-def]
            started = time.monotonic()
            try:
                return bool(step())
            finally:
                durations.append(time.monotonic() - started)

        consumer.step = timed  # type: ignore[method-assign]
    reads: list[float] = []  # a reader of the books beside the engine (collab ledger), WAL: never blocked
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            started = time.monotonic()
            journal(database, world.b.org_id)
            reads.append(time.monotonic() - started)
            stop.wait(0.05)

    receipts = select(func.count()).where(journal_entries.c.kind == RECEIPT)
    thread = ListenerThread(engine).start()
    watcher = threading.Thread(target=reader, daemon=True)
    watcher.start()
    try:
        release(world, flow, first)
        deadline = time.monotonic() + 120
        while count(database, receipts) < WAVE:  # the first wave's receipts, then invoicing gets to work
            assert time.monotonic() < deadline, "the first wave was not posted"
            time.sleep(0.05)
        issued = select(func.count()).where(invoices.c.status == ISSUED)
        assert count(database, issued) < WAVE  # invoicing is still anchoring the first wave's invoices
        released_at = release(world, flow, second)
        while count(database, receipts) < 2 * WAVE:
            assert time.monotonic() - released_at < RECEIPT_BOUND_S, "B's receipts waited for invoicing"
            time.sleep(0.05)
        posted_after = time.monotonic() - released_at
        while count(database, issued) < 2 * WAVE:
            assert time.monotonic() < deadline + 600, "the invoices were not all issued"
            time.sleep(0.2)
    finally:
        stop.set()
        thread.stop()
        watcher.join(5)
    assert all(consumer.metrics.errors._value.get() == 0 for consumer in engine.consumers)  # type: ignore[attr-defined]
    assert engine.sync.metrics.errors._value.get() == 0  # type: ignore[attr-defined]
    assert posted_after < RECEIPT_BOUND_S
    assert max(durations) < RECEIPT_BOUND_S  # no transaction of the engine held the database that long
    assert max(reads) < 2.0
    print(
        f"\nsqlite writers: second wave's receipts posted {posted_after:.1f} s after release while invoicing "
        f"anchored; longest consumer step {max(durations):.1f} s; longest read {max(reads) * 1000:.0f} ms"
    )


def test_each_connection_has_the_page_cache_asked_for(tmp_path: Path) -> None:
    """``COLLAB_SQLITE_CACHE_MIB`` reaches every connection of a listener's ledger (64 MiB unless set)."""
    for asked, kib in ((None, 64 * 1024), (8, 8 * 1024)):
        url = f"sqlite:///{tmp_path / f'ledger-{asked}.db'}"
        database = open_database(url) if asked is None else open_database(url, cache_mib=asked)
        with database.connect() as first, database.connect() as second:
            sizes = {int(each.exec_driver_sql("PRAGMA cache_size").scalar_one()) for each in (first, second)}
        assert sizes == {-kib}
