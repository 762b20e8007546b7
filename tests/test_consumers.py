"""Issue 9, consumers of the event store: each keeps only its cursor, moved in the same transaction as what its
handler writes; an event whose handling raises is quarantined and the consumer carries on (retried on request); a
node or database error is retried, never quarantined; a stored log that does not decode is quarantined by the
consumers that want it. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner
from web3.exceptions import Web3RPCError

from collab_py.cli import app
from collab_py.devnet.flow import Flow
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.sandbox import sample_contract
from collab_py.ledger import store
from collab_py.ledger.database import open_database
from collab_py.ledger.schema import chain_log, consumer_cursors, institution_actions
from collab_py.listener.consumer import Consumer, StoredEvent
from collab_py.listener.sync import ListenerConfig, Sync
from support import World, released

CONFIG = ListenerConfig(confirmations=0, poll_interval=0.01)


class Recorder:
    """A handler that records what it applies (a row per event), raising for the events in ``poison``."""

    events = ("PaymentVoucherIssued", "PaymentRequested", "SecondVoucher")

    def __init__(self, poison: Exception | None = None, at: str = "PaymentRequested") -> None:
        self.poison, self.at = poison, at
        self.applied: list[str] = []

    def apply(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        for stored in events:
            connection.execute(
                insert(institution_actions).values(
                    event_id=stored.id, voucher_id=stored.event.args["voucherId"], contract_no="x", seq=0,
                    action="SEEN", reason=stored.event.name, attempts=1,
                )
            )  # fmt: skip
            if self.poison is not None and stored.event.name == self.at:
                raise self.poison
        self.applied += [stored.event.name for stored in events]
        return len(events)

    def revert(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        return 0


def store_of(world: World, flow: Flow, ledger_url: str, payments: int = 2) -> tuple[Engine, Sync]:
    for index in range(payments):
        released(flow, world, sample_contract(f"C-{index}"))
    database = open_database(ledger_url)
    sync = Sync(world.w3, world.deployment, database, CONFIG)
    while not sync.step():
        pass
    return database, sync


def recorded(database: Engine) -> list[str]:
    with database.connect() as connection:
        return list(
            connection.execute(select(institution_actions.c.reason).order_by(institution_actions.c.id)).scalars()
        )


def cursor(database: Engine, name: str) -> int:
    with database.connect() as connection:
        found = select(consumer_cursors.c.event_id).where(consumer_cursors.c.consumer == name)
        return int(connection.execute(found).scalar_one())


def test_an_event_whose_handling_raises_is_quarantined_and_the_consumer_carries_on(
    world: World, flow: Flow, ledger_url: str
) -> None:
    database, sync = store_of(world, flow, ledger_url)
    handler = Recorder(ValueError("cannot post this one"))
    consumer = Consumer(database, "recorder", handler, sync.codec, sync.chain_id)
    assert consumer.step()
    assert recorded(database) == ["PaymentVoucherIssued", "SecondVoucher"] * 2  # each poison's row rolled back
    held = store.quarantined(database, "recorder")
    assert [(item.event, item.error_type, item.error, item.attempts) for item in held] == [
        ("PaymentRequested", "ValueError", "cannot post this one", 1)
    ] * 2
    with database.connect() as connection:
        assert cursor(database, "recorder") == store.last_id(connection)  # past the poison
    assert consumer.metrics.quarantined.value == 2

    handler.poison = None  # the cause is fixed; an operator asks for a retry of one of them
    assert store.request_retry(database, "recorder", [held[0].event_id]) == 1
    assert not consumer.step()  # it retried: not caught up until a step finds nothing to do
    assert consumer.step()
    assert recorded(database).count("PaymentRequested") == 1
    assert [item.event_id for item in store.quarantined(database)] == [held[1].event_id]
    assert [item.resolved_at is not None for item in store.quarantined(database, include_resolved=True)] == [
        True, False,
    ]  # fmt: skip
    assert consumer.metrics.quarantined.value == 1


@pytest.mark.parametrize(
    "outage", [Web3RPCError("header not found"), OperationalError("UPDATE", {}, Exception("database is locked"))]
)
def test_a_node_or_database_error_is_retried_never_quarantined(
    world: World, flow: Flow, ledger_url: str, outage: Exception
) -> None:
    database, sync = store_of(world, flow, ledger_url, payments=1)
    handler = Recorder(outage, at="SecondVoucher")
    consumer = Consumer(database, "recorder", handler, sync.codec, sync.chain_id)
    with pytest.raises(type(outage)):
        consumer.step()
    assert recorded(database) == []  # the batch and the cursor rolled back together
    assert cursor(database, "recorder") == 0
    assert store.quarantined(database) == []
    handler.poison = None  # the node or database is back
    assert consumer.step()
    assert recorded(database) == ["PaymentVoucherIssued", "PaymentRequested", "SecondVoucher"]


def test_a_stored_log_that_does_not_decode_is_quarantined_by_the_consumers_that_want_it(
    world: World, flow: Flow, ledger_url: str
) -> None:
    database, sync = store_of(world, flow, ledger_url, payments=1)
    with database.begin() as connection:  # as the sync stores a log whose data does not decode
        connection.execute(
            insert(chain_log).values(
                chain_id=sync.chain_id, block_number=world.w3.eth.block_number, block_hash=bytes(32),
                tx_hash=bytes(32), log_index=999, event="Undecodable", orphaned=False,
                args={"event": "SecondVoucher", "topics": [], "data": "0x", "error": "ValueError: log data is short"},
            )
        )  # fmt: skip
        connection.execute(
            insert(chain_log).values(
                chain_id=sync.chain_id, block_number=world.w3.eth.block_number, block_hash=bytes(32),
                tx_hash=bytes(32), log_index=1000, event="Undecodable", orphaned=False,
                args={"event": "OrgRegistered", "topics": [], "data": "0x", "error": "ValueError: short"},
            )
        )  # fmt: skip
    consumer = Consumer(database, "recorder", Recorder(), sync.codec, sync.chain_id)
    assert consumer.step()
    (held,) = store.quarantined(database)  # only the event it wants
    assert (held.error_type, held.error) == (
        "UndecodableEvent",
        "log SecondVoucher does not decode: ValueError: log data is short",
    )
    assert recorded(database) == ["PaymentVoucherIssued", "PaymentRequested", "SecondVoucher"]


def test_each_consumer_keeps_its_own_cursor(world: World, flow: Flow, ledger_url: str) -> None:
    database, sync = store_of(world, flow, ledger_url, payments=1)
    first = Consumer(database, "first", Recorder(), sync.codec, sync.chain_id, batch=2)
    assert not first.step()  # two rows of the three it wants
    second = Consumer(database, "second", Recorder(), sync.codec, sync.chain_id)
    assert second.step()
    assert cursor(database, "first") < cursor(database, "second")
    assert first.step()
    assert cursor(database, "first") == cursor(database, "second")
    with database.connect() as connection:
        assert connection.execute(select(func.count()).select_from(consumer_cursors)).scalar() == 2


def test_collab_quarantine_lists_and_retries(
    world: World, node: AnvilNode, flow: Flow, ledger_url: str, tmp_path: Path
) -> None:
    database, sync = store_of(world, flow, ledger_url, payments=1)
    Consumer(database, "recorder", Recorder(ValueError("no such account")), sync.codec, sync.chain_id).step()
    env = {
        "COLLAB_LEDGER_URL": ledger_url,
        "COLLAB_RPC_URL": node.rpc_url,
        "COLLAB_MANIFEST": str(world.deployment.manifest.save(tmp_path / "manifest.json")),
    }
    runner = CliRunner()
    listed = runner.invoke(app, ["--json", "quarantine", "list"], env=env)
    assert listed.exit_code == 0, listed.stdout + listed.stderr
    (item,) = json.loads(listed.stdout)
    assert (item["consumer"], item["event"], item["error"], item["attempts"]) == (
        "recorder", "PaymentRequested", "ValueError: no such account", 1,
    )  # fmt: skip
    table = runner.invoke(app, ["quarantine", "list"], env=env)
    assert "Quarantine: 1 events" in table.stdout
    retried = runner.invoke(app, ["--json", "quarantine", "retry", str(item["event_id"])], env=env)
    assert json.loads(retried.stdout) == {"retry_requested": 1}
    with database.connect() as connection:
        assert store.retry_requested(connection, "recorder") == [item["event_id"]]
