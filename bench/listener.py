"""Listener performance: backfill throughput and live latency of the accounting listeners (S8.1–S8.2).

Run: ``make listener-bench`` (or ``.venv/bin/python bench/listener.py [--vouchers 2000]``). Starts its own anvil,
creates N released payments (second vouchers) through the services, then:

* backfill: Party A's and Party B's accounting listeners, each with a fresh ledger, catch up from the deployment
  block; the figure is second vouchers posted to *both* ledgers per second (N / (time A + time B)), on SQLite and, when
  ``COLLAB_TEST_POSTGRES_URL`` (or ``--postgres``) names a server, on PostgreSQL; both ledgers are then reconciled
  with the chain. Before it, the node alone serves the deployment's logs, read through the sync's log reader in one
  request and parsed, with nothing else done: no backfill can be faster than the node gives it its logs. Then the
  sync alone stores the chain's logs in another fresh ledger: every consumer of a
  backfill waits for it, so N / (its time) bounds the figure whatever the consumers do. After it, the database alone
  takes the rows the backfill wrote (the store's logs, both orgs' journal entries and lines) again, into a fresh
  ledger, through the driver with nothing else to do: N / (its time) bounds the figure on that database whatever the
  Python around it does;
* live latency: Party A's listener runs (woken by ``newHeads``, confirmations 0) while payments are released one by
  one; the latency is from the moment the release's block is announced (a second ``newHeads`` subscription in this
  process notes when each head arrives) to the commit of its posting (p50, p99).

Ends with one JSON line ``{"backfill_events_per_s": B, "node_alone_bound_per_s": N, "sync_alone_bound_per_s": S,
"writes_alone_bound_per_s": W, "live_latency_p99_ms": L, ...}`` (B, S and W on SQLite).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url

from collab_py.chain.transactor import connect
from collab_py.devnet.flow import Flow
from collab_py.devnet.load import released_payments
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.sandbox import Sandbox, bootstrap
from collab_py.domain.types import payment_voucher_id
from collab_py.ledger.database import open_database
from collab_py.ledger.queries import posted_totals
from collab_py.ledger.reconcile import reconcile
from collab_py.ledger.schema import PAYMENT, RECEIPT
from collab_py.listener.engine import Listener, ListenerConfig, StoredEvent
from collab_py.listener.handlers.accounting import AccountingHandler
from collab_py.listener.heads import HeadWatcher
from collab_py.listener.runtime import ListenerThread
from collab_py.listener.sync import Sync
from collab_py.services.reader import ChainReader

TARGET_BACKFILL = 10_000
TARGET_P99_MS = 50.0
#: The tables a backfill writes, with their columns, in the order it writes them.
WRITTEN = {
    "chain_log": "id, chain_id, block_number, block_hash, tx_hash, log_index, event, contract_no, voucher_id, seq, "
    "args, orphaned",
    "journal_entries": "id, org_id, kind, contract_no, seq, voucher_id, amount, counterparty_org, event_id, "
    "reverses_id, memo, prev_hash, entry_hash",
    "journal_lines": "id, entry_id, account, debit, credit",
}
#: Rows a backfill writes in one transaction (the sync's chunk aims at 5,000 logs, a consumer's batch is 5,000 events).
ROWS_PER_TRANSACTION = 5_000


def node_alone(sandbox: Sandbox) -> tuple[float, int]:
    """Seconds for the node to serve every log of the deployment that the sync reads, in one request through the
    sync's log reader, parsed and nothing else (the best of three: the first read of a node is slower), and how many
    logs that was: the part of any backfill that no code of ours can shorten (the sync reads in chunks, each one
    more request)."""
    scratch = open_database("sqlite://")
    sync = Sync(sandbox.w3, sandbox.deployment, scratch, ListenerConfig(chunk_blocks=100_000_000))
    head = int(sandbox.w3.eth.block_number)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        logs = sync.reader.fetch(sandbox.deployment.manifest.deployment_block, head)
        times.append(time.perf_counter() - started)
    scratch.dispose()
    return min(times), len(logs)


def sync_alone(sandbox: Sandbox, url: str) -> float:
    """Seconds for the sync alone to store the chain's logs in a fresh ledger: the part of Party A's backfill that
    any consumer waits for, so ``vouchers / sync_alone`` bounds the backfill's rate however fast the consumers are."""
    database = open_database(url)
    sync = Sync(sandbox.w3, sandbox.deployment, database, ListenerConfig(confirmations=0, chunk_blocks=100_000))
    started = time.perf_counter()
    try:
        while not sync.step():
            pass
    finally:
        sync.close()
    seconds = time.perf_counter() - started
    database.dispose()
    return seconds


def rows_of(connection: Connection, table: str) -> list[tuple[Any, ...]]:
    """The rows of one of the :data:`WRITTEN` tables, its columns in that order (``args`` as its JSON text), by id."""
    columns = WRITTEN[table].replace("args", "CAST(args AS TEXT)")
    return [tuple(row) for row in connection.exec_driver_sql(f"SELECT {columns} FROM {table} ORDER BY id")]


def writes_alone(source: str, url: str) -> float:
    """Seconds for the database of ``url`` (fresh) to take the rows the backfill wrote to ``source`` — the store's
    logs, then the journal's entries and lines — through the driver alone (``executemany`` on SQLite, ``COPY`` on
    PostgreSQL, as the sync and the journal write them), :data:`ROWS_PER_TRANSACTION` rows a transaction: the part of
    a backfill no Python can shorten."""
    written = open_database(source)
    with written.connect() as connection:
        tables = {table: rows_of(connection, table) for table in WRITTEN}
    written.dispose()
    database = open_database(url)
    started = time.perf_counter()
    for table, columns in WRITTEN.items():
        rows = tables[table]
        for at in range(0, len(rows), ROWS_PER_TRANSACTION):
            chunk = rows[at : at + ROWS_PER_TRANSACTION]
            with database.begin() as connection:
                if database.dialect.name == "postgresql":
                    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
                    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        for row in chunk:
                            copy.write_row(row)
                else:
                    marks = ", ".join("?" * len(columns.split(", ")))
                    connection.exec_driver_sql(f"INSERT INTO {table} ({columns}) VALUES ({marks})", chunk)
    seconds = time.perf_counter() - started
    database.dispose()
    return seconds


def backfill(sandbox: Sandbox, url: str, vouchers: int) -> tuple[float, float]:
    """Seconds for A's and for B's listener to post every voucher from scratch, checked and reconciled."""
    database = open_database(url)
    config = ListenerConfig(confirmations=0, chunk_blocks=100_000)
    seconds = []
    for org, kind in ((sandbox.a.org_id, PAYMENT), (sandbox.b.org_id, RECEIPT)):
        listener = Listener(
            sandbox.w3,
            sandbox.deployment,
            database,
            f"accounting-{org}",
            AccountingHandler(org, decimals=sandbox.deployment.decimals),
            config,
        )
        started = time.perf_counter()
        while not listener.step():
            pass
        seconds.append(time.perf_counter() - started)
        posted = sum(
            amount
            for postings in posted_totals(database, kind).values()
            for (_, poster, _), amount in postings.items()
            if poster == org
        )
        if posted != vouchers:
            raise SystemExit(f"org {org} posted {posted} {kind} units, expected {vouchers}")
    report = reconcile(
        ChainReader(sandbox.deployment).second_vouchers(), database, decimals=sandbox.deployment.decimals()
    )
    if not report.clean:
        raise SystemExit(f"reconciliation is not clean on {make_url(url).get_backend_name()}")
    database.dispose()
    return seconds[0], seconds[1]


def live_latencies(sandbox: Sandbox, node: AnvilNode, payments: int) -> list[float]:
    """Milliseconds from each release's block to its posting in Party A's books, for ``payments`` releases."""
    committed: dict[bytes, tuple[int, float]] = {}  # voucher id -> (block, when posted)
    arrived = threading.Condition()

    mined: dict[int, float] = {}  # block number -> when its newHeads announcement arrived

    def on_commit(events: Sequence[StoredEvent]) -> None:
        now = time.perf_counter()
        with arrived:
            for stored in events:
                if stored.event.name == "SecondVoucher":
                    committed[stored.event.args["voucherId"]] = (stored.event.block_number, now)
            arrived.notify_all()

    clock = HeadWatcher(node.ws_url, on_head=lambda number: mined.setdefault(number, time.perf_counter())).start()
    heads = HeadWatcher(node.ws_url).start()
    database = open_database(f"sqlite:///{tempfile.mkdtemp(prefix='collab-live-')}/ledger.db")
    config = ListenerConfig(confirmations=0, poll_interval=0.5)
    handler = AccountingHandler(sandbox.a.org_id, decimals=sandbox.deployment.decimals)
    listener = Listener(
        sandbox.w3, sandbox.deployment, database, "live", handler, config, heads=heads, on_commit=on_commit
    )
    thread = ListenerThread(listener).start()
    thread.wait_until(sandbox.w3.eth.block_number, timeout=600)
    prepared = released_payments(sandbox, payments, prefix="LIVE", release=False)
    operator = Flow(sandbox.deployment).institution(sandbox.bank)
    latencies = []
    try:
        for payment in prepared:
            voucher = payment_voucher_id(payment.draft.contract_no, payment.seq)
            operator.send(operator.prepare_release(payment.draft.contract_no, payment.seq)).wait()
            with arrived:
                if not arrived.wait_for(lambda voucher=voucher: voucher in committed, timeout=10):
                    raise SystemExit("a release was not posted within 10 s")
            block, posted = committed[voucher]
            latencies.append((posted - mined[block]) * 1000)
    finally:
        thread.stop()
        heads.stop()
        clock.stop()
    return latencies


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh database on the PostgreSQL server of ``admin_url`` (its URL), dropped afterwards."""
    name = f"collab_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--vouchers", type=int, default=2_000, help="second vouchers to backfill (default 2000)")
    parser.add_argument("--live", type=int, default=100, help="releases to time live (default 100)")
    parser.add_argument("--postgres", default=os.environ.get("COLLAB_TEST_POSTGRES_URL"), help="admin URL")
    args = parser.parse_args(argv)
    console = Console()
    with AnvilNode() as node:
        sandbox = bootstrap(connect(node.rpc_url))
        started = time.perf_counter()
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("releasing payments", total=args.vouchers)
            released_payments(sandbox, args.vouchers, progress=lambda done: progress.update(task, completed=done))
        console.print(f"{args.vouchers:,} second vouchers on chain in {time.perf_counter() - started:.1f} s")

        node_seconds, node_logs = node_alone(sandbox)
        results: dict[str, tuple[float, float, float, float]] = {}  # database -> A, B, sync alone, writes alone (s)
        with tempfile.TemporaryDirectory(prefix="collab-bench-") as folder:
            urls = {name: f"sqlite:///{Path(folder) / name}.db" for name in ("sync", "ledger", "writes")}
            alone = sync_alone(sandbox, urls["sync"])
            both = backfill(sandbox, urls["ledger"], args.vouchers)
            results["sqlite"] = (*both, alone, writes_alone(urls["ledger"], urls["writes"]))
        if args.postgres:
            with postgres_database(args.postgres) as url:
                alone = sync_alone(sandbox, url)
            with postgres_database(args.postgres) as url, postgres_database(args.postgres) as fresh:
                both = backfill(sandbox, url, args.vouchers)
                results["postgresql"] = (*both, alone, writes_alone(url, fresh))
        latencies = sorted(live_latencies(sandbox, node, args.live))

    table = Table(
        title=f"Backfill of {args.vouchers:,} second vouchers into both ledgers, per second; at most: N / the sync "
        "alone, N / the writes alone"
    )
    columns = ("database", "A (s)", "B (s)", "per s", "of target", "sync (s)", "at most", "writes (s)", "at most")
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    rates, bounds, floors = {}, {}, {}
    for name, (seconds_a, seconds_b, alone, writes) in results.items():
        rates[name] = args.vouchers / (seconds_a + seconds_b)
        bounds[name] = args.vouchers / alone
        floors[name] = args.vouchers / writes
        table.add_row(
            name,
            f"{seconds_a:.2f}",
            f"{seconds_b:.2f}",
            f"{rates[name]:,.0f}",
            f"{rates[name] / TARGET_BACKFILL:.2f} x",
            f"{alone:.2f}",
            f"{bounds[name]:,.0f}",
            f"{writes:.2f}",
            f"{floors[name]:,.0f}",
        )
    console.print(table)
    node_bound = args.vouchers / node_seconds
    console.print(
        f"the node alone: {node_logs:,} logs served and parsed in {node_seconds:.2f} s, at most {node_bound:,.0f} "
        f"vouchers/s whatever the database ({node_bound / TARGET_BACKFILL:.2f} x target)"
    )
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
    console.print(
        f"live latency, block to committed posting, {len(latencies)} releases: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
        f"({p99 / TARGET_P99_MS:.2f} x target {TARGET_P99_MS:.0f} ms), max {latencies[-1]:.1f} ms"
    )
    summary = {
        "backfill_events_per_s": round(rates["sqlite"]),
        "node_alone_bound_per_s": round(node_bound),
        "sync_alone_bound_per_s": round(bounds["sqlite"]),
        "writes_alone_bound_per_s": round(floors["sqlite"]),
        "live_latency_p99_ms": round(p99, 1),
        "live_latency_p50_ms": round(p50, 1),
        "vouchers": args.vouchers,
    }
    if "postgresql" in rates:
        summary["backfill_events_per_s_postgresql"] = round(rates["postgresql"])
        summary["sync_alone_bound_per_s_postgresql"] = round(bounds["postgresql"])
        summary["writes_alone_bound_per_s_postgresql"] = round(floors["postgresql"])
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
