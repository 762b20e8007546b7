"""The listener engine every long-running service runs on (S8.2).

One :class:`Listener` is one consumer: it reads our contracts' logs from its checkpoint, acts only on blocks
``confirmations`` deep, and writes the raw events, what its handler posts and the new checkpoint in one database
transaction, so that a replay after a crash changes nothing. It keeps the hashes of recent blocks; after a reorg it
walks back to the common ancestor and has the handler compensate what it had posted on orphaned blocks (reversal
entries, never deletes). A reorg deeper than its window halts it with :class:`ReorgTooDeep`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update
from web3 import Web3

from collab_py.chain.build import load_artifact
from collab_py.chain.deploy import Deployment
from collab_py.chain.logs import EVENT_SOURCES, ChainEvent, EventCodec, LogReader
from collab_py.domain.models import jsonable
from collab_py.exceptions import CollabError
from collab_py.ledger.schema import block_window, chain_events, checkpoints
from collab_py.listener.heads import HeadWatcher
from collab_py.listener.metrics import ListenerMetrics
from collab_py.redaction import scrub

log = logging.getLogger("collab.listener")

#: Backoff after an RPC or database error: first delay and ceiling, in seconds.
BACKOFF_START, BACKOFF_MAX = 0.1, 10.0


class ReorgTooDeep(CollabError):
    """The chain reorganised deeper than the listener's block window: it halts rather than guess."""


@dataclass(frozen=True)
class StoredEvent:
    """A chain event as recorded in the database, with its row id (what postings reference)."""

    id: int
    event: ChainEvent


class Handler(Protocol):
    """What a service built on the engine does with the events it listens to."""

    #: Names of the events (of the registry or the escrow) the handler wants.
    events: tuple[str, ...]

    def apply(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """Acts on newly confirmed events in the listener's transaction; returns the postings written."""

    def revert(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """Compensates what :meth:`apply` posted for events whose blocks were orphaned (found by event id; their
        args are as stored, bytes in 0x hex); returns the reversals written."""


@dataclass(frozen=True)
class ListenerConfig:
    """How a listener reads the chain."""

    confirmations: int = 12
    window: int = 128
    chunk_blocks: int = 5_000
    poll_interval: float = 1.0


class Listener:
    """One consumer of our contracts' events: checkpointed, reorg-aware, exactly-once."""

    def __init__(
        self,
        w3: Web3,
        deployment: Deployment,
        database: Engine,
        consumer: str,
        handler: Handler,
        config: ListenerConfig | None = None,
        metrics: ListenerMetrics | None = None,
        heads: HeadWatcher | None = None,
        on_commit: Callable[[Sequence[StoredEvent]], None] | None = None,
    ) -> None:
        """``heads`` wakes the listener on new blocks; ``on_commit`` sees the events of each committed batch."""
        self.w3 = w3
        self.deployment = deployment
        self.database = database
        self.consumer = consumer
        self.handler = handler
        self.config = config or ListenerConfig()
        self.metrics = metrics or ListenerMetrics(consumer)
        self.heads = heads
        self.on_commit = on_commit
        self.chain_id = deployment.manifest.chain_id
        abis = [load_artifact(name).abi for name in EVENT_SOURCES]
        self.codec = EventCodec(abis, handler.events)
        addresses = [deployment.registry.address, deployment.escrow.address]
        self.reader = LogReader(w3, addresses, self.codec.topics, self.config.chunk_blocks)
        self.halted: ReorgTooDeep | None = None
        self._position: tuple[int, bytes] | None = None  # the checkpoint, once read: this listener is its only writer
        self._idle_at: tuple[int, bytes] | None = None  # the head at which the listener last found nothing to do

    # ------------------------------------------------------------------ the loop
    def run(self, stop: threading.Event) -> None:
        """Processes confirmed blocks until ``stop`` is set (finishing the batch in hand); backs off on RPC and
        database errors without skipping anything; raises :class:`ReorgTooDeep` when it must halt."""
        delay = BACKOFF_START
        while not stop.is_set():
            try:
                caught_up = self.step()
                delay = BACKOFF_START
            except ReorgTooDeep as error:
                self.halted = error
                self.metrics.halted.set(1)
                log.critical("listener %s halted: %s", self.consumer, error)
                raise
            except Exception as error:  # RPC outage, database restart or lock: wait and resume from the checkpoint
                self.metrics.errors.inc()
                self.metrics.rpc_up.set(0)
                reason = f"{type(error).__name__}: {scrub(str(error))}"  # it may quote the node's or database's URL
                log.warning("listener %s: %s; retrying in %.1f s", self.consumer, reason, delay)
                stop.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            if caught_up:
                self._wait_for_head(stop)

    def _wait_for_head(self, stop: threading.Event) -> None:
        """Sleeps for the poll interval, less when the head subscription announces a block or ``stop`` is set."""
        if self.heads is None:
            stop.wait(self.config.poll_interval)
            return
        deadline = time.monotonic() + self.config.poll_interval
        while not stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
            if self.heads.woken.wait(min(remaining, 0.1)):
                break
        self.heads.woken.clear()

    def step(self) -> bool:
        """Processes one batch of confirmed blocks; returns True when the listener is caught up."""
        latest = self.w3.eth.get_block("latest")
        head = (int(latest["number"]), bytes(latest["hash"]))
        self.metrics.rpc_up.set(1)
        self.metrics.head.set(head[0])
        if head == self._idle_at:  # nothing new since the last poll: one request per poll while idle
            return True
        target = head[0] - self.config.confirmations
        number, known_hash = self._position or self._checkpoint()
        self.metrics.checkpoint.set(number)
        self.metrics.lag.set(max(0, target - number))
        if self._hash_of(number) != known_hash:
            self._unwind(number)
            return False
        if number >= target:
            self._idle_at = head
            return True
        end = min(target, number + self.config.chunk_blocks)
        end_hash = self._hash_of(end)
        logs = self.reader.fetch(number + 1, end)
        if self._hash_of(end) != end_hash:  # the chain moved under the query: read it again
            return False
        self._commit(number, end, end_hash, [self.codec.decode(entry) for entry in logs])
        self.metrics.lag.set(target - end)
        return end >= target

    # ------------------------------------------------------------------ one batch, one transaction
    def _commit(self, previous: int, end: int, end_hash: bytes, events: list[ChainEvent]) -> None:
        with self.database.begin() as connection:
            stored, duplicates = self._store(connection, events)
            postings = self.handler.apply(connection, stored) if stored else 0
            moved = connection.execute(
                update(checkpoints)
                .where(and_(checkpoints.c.consumer == self.consumer, checkpoints.c.block_number == previous))
                .values(block_number=end, block_hash=end_hash)
            )
            if moved.rowcount != 1:
                raise CollabError(f"checkpoint of {self.consumer} moved under us (another instance running?)")
            self._remember_blocks(connection, previous, end, end_hash, events)
        self.metrics.events.inc(len(stored))
        self.metrics.postings.inc(postings)
        self.metrics.duplicates.inc(duplicates)
        self.metrics.checkpoint.set(end)
        self._position = (end, end_hash)
        if self.on_commit is not None and stored:
            self.on_commit(stored)

    def _remember_blocks(
        self, connection: Connection, previous: int, end: int, end_hash: bytes, events: list[ChainEvent]
    ) -> None:
        """Keeps the hash of the batch's last block and of every block with an event, for :meth:`_unwind`."""
        blocks = {event.block_number: event.block_hash for event in events} | {end: end_hash}
        mine = block_window.c.consumer == self.consumer
        stale = (block_window.c.block_number > previous) | (block_window.c.block_number <= end - self.config.window)
        connection.execute(delete(block_window).where(and_(mine, stale)))
        rows = [{"consumer": self.consumer, "block_number": n, "block_hash": h} for n, h in sorted(blocks.items())]
        connection.execute(insert(block_window), rows)

    def _store(self, connection: Connection, events: list[ChainEvent]) -> tuple[list[StoredEvent], int]:
        if not events:
            return [], 0
        key = chain_events.c
        seen = {
            (row.tx_hash, row.log_index, row.block_hash)
            for row in connection.execute(
                select(key.tx_hash, key.log_index, key.block_hash).where(
                    and_(
                        key.consumer == self.consumer,
                        key.block_number.between(events[0].block_number, events[-1].block_number),
                    )
                )
            )
        }
        fresh: list[ChainEvent] = []
        for event in events:
            identity = (event.tx_hash, event.log_index, event.block_hash)
            if identity not in seen:
                seen.add(identity)
                fresh.append(event)
        if not fresh:
            return [], len(events)
        rows = [
            {
                "consumer": self.consumer,
                "chain_id": self.chain_id,
                "tx_hash": event.tx_hash,
                "log_index": event.log_index,
                "block_number": event.block_number,
                "block_hash": event.block_hash,
                "event": event.name,
                "voucher_id": event.args.get("voucherId"),
                "args": jsonable(event.args),
                "orphaned": False,
            }
            for event in fresh
        ]
        # a plain executemany, then the ids read back by the unique key: SQLite cannot return the ids of a bulk
        # insert in order, and SQLAlchemy would fall back to one INSERT per row
        connection.execute(insert(chain_events), rows)
        first, last = fresh[0].block_number, fresh[-1].block_number
        ids = {
            (row.tx_hash, row.log_index, row.block_hash): row.id
            for row in connection.execute(
                select(key.id, key.tx_hash, key.log_index, key.block_hash).where(
                    and_(key.consumer == self.consumer, key.block_number.between(first, last))
                )
            )
        }
        stored = [StoredEvent(ids[(event.tx_hash, event.log_index, event.block_hash)], event) for event in fresh]
        return stored, len(events) - len(fresh)

    # ------------------------------------------------------------------ checkpoint and reorgs
    def _checkpoint(self) -> tuple[int, bytes]:
        with self.database.begin() as connection:
            row = connection.execute(
                select(checkpoints.c.block_number, checkpoints.c.block_hash).where(
                    checkpoints.c.consumer == self.consumer
                )
            ).first()
            if row is not None:
                return int(row.block_number), bytes(row.block_hash)
            start = max(0, self.deployment.manifest.deployment_block - 1)  # never the head: start at the deployment
            start_hash = self._hash_of(start)
            connection.execute(
                insert(checkpoints).values(
                    consumer=self.consumer, chain_id=self.chain_id, block_number=start, block_hash=start_hash
                )
            )
            connection.execute(
                insert(block_window).values(consumer=self.consumer, block_number=start, block_hash=start_hash)
            )
            return start, start_hash

    def _unwind(self, checkpoint: int) -> None:
        """After a reorg: back to the newest remembered block still on the chain, compensating what was posted."""
        with self.database.begin() as connection:
            window = connection.execute(
                select(block_window.c.block_number, block_window.c.block_hash)
                .where(block_window.c.consumer == self.consumer)
                .order_by(block_window.c.block_number.desc())
            ).all()
            ancestor = next(
                (row for row in window if checkpoint - row.block_number <= self.config.window
                 and self._hash_of(row.block_number) == bytes(row.block_hash)),
                None,
            )  # fmt: skip
            if ancestor is None:
                raise ReorgTooDeep(
                    f"block {checkpoint} of {self.consumer}'s checkpoint was reorganised away and no block of the "
                    f"last {self.config.window} matches the chain: operator action needed"
                )
            orphaned = connection.execute(
                select(chain_events)
                .where(
                    and_(
                        chain_events.c.consumer == self.consumer,
                        chain_events.c.block_number > ancestor.block_number,
                        chain_events.c.orphaned.is_(False),
                    )
                )
                .order_by(chain_events.c.id)
            ).all()
            reversals = self.handler.revert(connection, [_stored(row) for row in orphaned]) if orphaned else 0
            connection.execute(
                update(chain_events).where(chain_events.c.id.in_([row.id for row in orphaned])).values(orphaned=True)
            )
            connection.execute(
                delete(block_window).where(
                    and_(
                        block_window.c.consumer == self.consumer,
                        block_window.c.block_number > ancestor.block_number,
                    )
                )
            )
            connection.execute(
                update(checkpoints)
                .where(checkpoints.c.consumer == self.consumer)
                .values(block_number=ancestor.block_number, block_hash=bytes(ancestor.block_hash))
            )
        self._position = (int(ancestor.block_number), bytes(ancestor.block_hash))
        self.metrics.reorgs.inc()
        self.metrics.postings.inc(reversals)
        log.warning(
            "listener %s: reorg below block %d; back to block %d, %d events orphaned, %d reversals",
            self.consumer, checkpoint, ancestor.block_number, len(orphaned), reversals,
        )  # fmt: skip

    def _hash_of(self, number: int) -> bytes:
        return bytes(self.w3.eth.get_block(number)["hash"])


def _stored(row: Any) -> StoredEvent:
    """A stored event back from its row (args as stored: bytes as 0x hex)."""
    event = ChainEvent(
        name=row.event,
        args=dict(row.args),
        block_number=row.block_number,
        block_hash=bytes(row.block_hash),
        tx_hash=bytes(row.tx_hash),
        log_index=row.log_index,
    )
    return StoredEvent(row.id, event)
