"""S8.2 under faults, with real processes and a real node: a listener killed with SIGKILL at random points, a node
stopped and restarted under a running listener, and a clean drain on SIGTERM. Nothing is lost, nothing is doubled."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from collab_py.chain.transactor import connect
from collab_py.devnet.flow import Flow
from collab_py.devnet.node import AnvilNode, free_port
from collab_py.devnet.sandbox import Sandbox, bootstrap, sample_contract
from collab_py.ledger.database import open_database
from collab_py.ledger.schema import FREEZE, PAYMENT, chain_log, journal_entries, sync_state
from collab_py.listener.engine import Listener, ListenerConfig
from collab_py.listener.runtime import ListenerThread
from support import BANK_ACCOUNT, World, bookkeeper

pytestmark = pytest.mark.slow


def pay(sandbox: Sandbox, flow: Flow, number: str) -> int:
    """One single-stage contract paid in full to Party B; returns the amount."""
    draft = sample_contract(number)
    draft = type(draft)(number=draft.number, text=draft.text, stages=draft.stages[:1])
    flow.run(sandbox.a, sandbox.b, sandbox.bank, draft, BANK_ACCOUNT)
    return draft.total


def kinds(database: Engine, org_id: int) -> dict[str, int]:
    with database.connect() as connection:
        rows = connection.execute(
            select(journal_entries.c.kind, func.count())
            .where(journal_entries.c.org_id == org_id)
            .group_by(journal_entries.c.kind)
        ).all()
    return {kind: count for kind, count in rows}


def per_voucher(database: Engine, org_id: int) -> list[int]:
    """How many PAYMENT entries each voucher has (must be exactly one)."""
    with database.connect() as connection:
        rows = connection.execute(
            select(func.count())
            .where(journal_entries.c.org_id == org_id, journal_entries.c.kind == PAYMENT)
            .group_by(journal_entries.c.voucher_id)
        ).all()
    return [count for (count,) in rows]


def listen_command(node_url: str, manifest: Path, ledger: str, org_id: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "collab_py.cli", "--rpc-url", node_url, "--manifest", str(manifest),
        "listen", "--org", str(org_id), "--poll-interval", "0.05", *extra,
    ]  # fmt: skip


def checkpoint_of(database: Engine) -> int:
    with database.connect() as connection:
        return int(connection.execute(select(func.coalesce(func.max(sync_state.c.block_number), -1))).scalar_one())


def test_listener_killed_at_random_points_loses_and_doubles_nothing(
    world: World, node: AnvilNode, flow: Flow, tmp_path: Path
) -> None:
    vouchers = 12
    for index in range(vouchers):
        pay(world, flow, f"K-{index}")
    manifest = world.deployment.manifest.save(tmp_path / "manifest.json")
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    database = open_database(ledger)
    env = {**os.environ, "COLLAB_LEDGER_URL": ledger, "COLLAB_CONFIRMATIONS": "0"}
    command = listen_command(node.rpc_url, manifest, ledger, world.a.org_id, "--once", "--chunk-blocks", "2")
    rng = random.Random(7)
    kills = 0
    for _ in range(5):  # SIGKILL once the listener has committed a random number of batches: mid-run, any moment
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        target = checkpoint_of(database) + 2 * rng.randint(1, 20)
        deadline = time.monotonic() + 120
        while process.poll() is None and checkpoint_of(database) < target:
            assert time.monotonic() < deadline, "the listener made no progress"
            time.sleep(rng.uniform(0.0, 0.02))
        if process.poll() is not None:
            break
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    process = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    assert process.returncode == 0, process.stderr.decode()
    assert kills >= 3, "the listener finished before it could be killed mid-run"
    assert kinds(database, world.a.org_id) == {FREEZE: vouchers, PAYMENT: vouchers}
    assert per_voucher(database, world.a.org_id) == [1] * vouchers


def test_node_outage_under_a_running_listener(tmp_path: Path) -> None:
    state = tmp_path / "anvil-state.json"
    port = free_port()
    node = AnvilNode(port=port, extra_args=["--state", str(state)]).start()
    try:
        sandbox = bootstrap(connect(node.rpc_url))
        flow = Flow(sandbox.deployment)
        pay(sandbox, flow, "O-1")
        database = open_database(f"sqlite:///{tmp_path / 'ledger.db'}")
        config = ListenerConfig(confirmations=0, poll_interval=0.05)
        listener = Listener(
            sandbox.w3, sandbox.deployment, database, "accounting", bookkeeper(sandbox, sandbox.a.org_id), config
        )
        thread = ListenerThread(listener).start()
        thread.wait_until(sandbox.w3.eth.block_number)

        node.stop()  # the node goes away: the listener backs off and reports it
        deadline = time.monotonic() + 20
        while listener.metrics.errors._value.get() < 2:  # type: ignore[attr-defined]
            assert time.monotonic() < deadline, "the listener did not notice the outage"
            time.sleep(0.05)
        assert listener.metrics.healthy(max_lag=10) == (False, "node unreachable")

        node = AnvilNode(port=port, extra_args=["--state", str(state)]).start()  # back, with the same chain
        for transactor in (s.tx for s in flow._services.values()):
            transactor.resync()
        pay(sandbox, flow, "O-2")
        thread.wait_until(sandbox.w3.eth.block_number)
        thread.stop()
        assert kinds(database, sandbox.a.org_id) == {FREEZE: 2, PAYMENT: 2}
        assert per_voucher(database, sandbox.a.org_id) == [1, 1]
        assert listener.metrics.healthy(max_lag=10)[0]
    finally:
        node.stop()


def test_sigterm_drains_and_exits_cleanly(world: World, node: AnvilNode, flow: Flow, tmp_path: Path) -> None:
    pay(world, flow, "T-1")
    manifest = world.deployment.manifest.save(tmp_path / "manifest.json")
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    env = {**os.environ, "COLLAB_LEDGER_URL": ledger, "COLLAB_CONFIRMATIONS": "0"}
    process = subprocess.Popen(
        listen_command(node.rpc_url, manifest, ledger, world.b.org_id), env=env, stderr=subprocess.PIPE, text=True
    )
    database = open_database(ledger)
    deadline = time.monotonic() + 30
    while not kinds(database, world.b.org_id):
        assert time.monotonic() < deadline, "the listener posted nothing"
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert "draining" in (process.stderr.read() if process.stderr else "")
    with database.connect() as connection:
        posted_from = chain_log.c.event.in_(["ContractProposed", "PaymentVoucherIssued", "SecondVoucher"])
        assert connection.execute(select(func.count()).where(posted_from)).scalar() == 3


def test_locked_or_restarted_ledger_database_under_a_running_listener(
    world: World, flow: Flow, ledger_url: str
) -> None:
    """SQLite: another process holds the write lock for a while. PostgreSQL: the server drops the listener's
    connections (as in a database restart). The listener waits or reconnects; every voucher is posted once."""
    database = open_database(ledger_url)
    config = ListenerConfig(confirmations=0, poll_interval=0.05)
    listener = Listener(world.w3, world.deployment, database, "accounting", bookkeeper(world, world.a.org_id), config)
    thread = ListenerThread(listener).start()
    try:
        pay(world, flow, "D-1")
        thread.wait_until(world.w3.eth.block_number)
        if database.dialect.name == "sqlite":
            blocker = sqlite3.connect(database.url.database or "", timeout=1)
            blocker.execute("BEGIN EXCLUSIVE")
            pay(world, flow, "D-2")  # mined while the ledger is locked
            time.sleep(1.0)
            blocker.rollback()
            blocker.close()
        else:
            pay(world, flow, "D-2")
            with database.connect() as connection:  # the server ends every other session of this database
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
        pay(world, flow, "D-3")
        thread.wait_until(world.w3.eth.block_number, timeout=60)
    finally:
        thread.stop()
    assert kinds(database, world.a.org_id) == {FREEZE: 3, PAYMENT: 3}
    assert per_voucher(database, world.a.org_id) == [1, 1, 1]
