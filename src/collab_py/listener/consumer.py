"""Consumers of the event store: accounting, invoicing, the institution's bot, any future one (S8.2).

A consumer keeps only its cursor, the last ``chain_log.id`` it processed. Each step it reads the next rows after it
(a bounded batch, in store order): the events its handler wants go to :meth:`Handler.apply`, the ``Orphaned``
markers of events it wants to :meth:`Handler.revert` (which compensates only what was posted for that event). What
the handler writes and the new cursor are one transaction: exactly once per consumer.

One bad event never stops a consumer. When a batch raises, it is rolled back and handled again event by event (a
savepoint each): an event whose handling raises goes to the ``quarantine`` table with its error, counted in
``/metrics`` and flagged by ``/healthz``, and the consumer carries on; ``collab quarantine retry`` asks for it to be
tried again. Errors of the node or the database are not the event's fault: they propagate, the batch is rolled back
and the run loop retries it after a backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import requests
from sqlalchemy import Connection, Engine
from sqlalchemy import exc as db_errors
from web3.exceptions import Web3RPCError

from collab_py.chain.logs import UNDECODABLE, ChainEvent, EventCodec
from collab_py.chain.transactor import NodeUnreachable, TransactionTimeout
from collab_py.ledger import store
from collab_py.ledger.database import writer
from collab_py.ledger.journal import Evidence
from collab_py.ledger.schema import ORPHANED
from collab_py.listener.metrics import ListenerMetrics

log = logging.getLogger("collab.listener")

#: Errors that are no event's fault: the node or the database is unreachable, locked or restarting. They stop the
#: batch for a retry after a backoff; anything else a handler raises is the event's, which goes to quarantine.
TRANSIENT: tuple[type[BaseException], ...] = (
    NodeUnreachable,
    TransactionTimeout,
    Web3RPCError,
    requests.exceptions.RequestException,
    OSError,
    db_errors.OperationalError,
    db_errors.InterfaceError,
    db_errors.DisconnectionError,
    store.CursorMoved,
)


@dataclass(frozen=True)
class StoredEvent:
    """A chain event as the store holds it, with its row id (what postings reference)."""

    id: int
    event: ChainEvent
    #: where on chain the store's row says the event is (None: not given, a journal writer reads it from the store)
    evidence: Evidence | None = None


class Handler(Protocol):
    """What a service built on the store does with the events it listens to."""

    #: Names of the events (of the registry or the escrow) the handler wants.
    events: tuple[str, ...]

    def apply(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """Acts on newly stored events in the consumer's transaction; returns the records written."""

    def revert(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """Compensates what :meth:`apply` wrote for events whose blocks were orphaned; returns the reversals."""


@runtime_checkable
class Retrying(Protocol):
    """A handler that handles an event again differently when an operator asks for it (``collab quarantine
    retry``) than in store order: accounting then judges an asset by the deployment's listing as it stands now."""

    def retry(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """As :meth:`Handler.apply`, for quarantined events an operator asked to retry."""


@runtime_checkable
class Ticking(Protocol):
    """A handler with work of its own each step (re-checking deferred decisions, invoices waiting for a receipt)."""

    def tick(self, connection: Connection) -> int:
        """Does that work in its own transaction; returns the records written."""


class Consumer:
    """One consumer of the store of ``database`` (of chain ``chain_id``): ``name`` is its cursor's key; consumers
    of one engine share the batches they read (``shared``)."""

    def __init__(
        self,
        database: Engine,
        name: str,
        handler: Handler,
        codec: EventCodec,
        chain_id: int,
        *,
        batch: int = 5_000,
        metrics: ListenerMetrics | None = None,
        on_commit: Callable[[Sequence[StoredEvent]], None] | None = None,
        shared: store.SharedBatch | None = None,
    ) -> None:
        self.database = database
        self.name = name
        self.handler = handler
        self.codec = codec
        self.chain_id = chain_id
        self.batch = min(batch, getattr(handler, "batch", batch))  # handlers that send transactions want less
        self.metrics = metrics or ListenerMetrics(name)
        self.on_commit = on_commit
        self.shared = shared or store.SharedBatch()
        self.wanted = frozenset(handler.events)
        self._names = (*handler.events, ORPHANED, UNDECODABLE)
        self._writer = writer(database)
        self._cursor: int | None = None  # read once: this consumer is its cursor's only writer
        self._quarantine_changed = True

    @property
    def cursor(self) -> int:
        """The last store id processed."""
        if self._cursor is None:
            with self._writer.begin() as connection:
                found = store.cursor_of(connection, self.name)
                self._cursor = found if found is not None else store.start_cursor(connection, self.name)
        return self._cursor

    def step(self) -> bool:
        """Handles one batch of stored events (and retries asked for, and the handler's own work); returns True when
        caught up with the store and the handler's work wrote nothing (what it sent may bring new events)."""
        cursor = self.cursor
        with self.database.connect() as connection:
            top = store.last_id(connection)
            synced = store.sync_position(connection, self.chain_id)
            retries = store.retry_requested(connection, self.name)
        if retries:
            self._retry(retries)
        ticked = written = self._tick()
        caught_up = top <= cursor
        if not caught_up:
            with self._writer.begin() as connection:
                rows, end = self.shared.read(connection, cursor, top, self._names, self.batch)
                processed, written_now = self._process(connection, rows)
                store.move_cursor(connection, self.name, cursor, end)
            self._cursor = end
            written += written_now
            caught_up = end >= top
            self.metrics.events.inc(len(processed))
            if rows:
                self.metrics.checkpoint.set(rows[-1].block_number)
            if self.on_commit is not None and processed:
                self.on_commit(processed)
        if caught_up and synced is not None:
            self.metrics.checkpoint.set(synced[0])
        self.metrics.postings.inc(written)
        caught_up = caught_up and not ticked and not retries
        if self._quarantine_changed:
            with self.database.connect() as connection:
                self.metrics.quarantined.set(store.unresolved(connection, self.name))
            self._quarantine_changed = False
        return caught_up

    # ------------------------------------------------------------------ one batch, poison events set aside
    def _process(self, connection: Connection, rows: Sequence[store.LogRow]) -> tuple[list[StoredEvent], int]:
        """Handles ``rows`` as one batch; if that raises (not a node or database error), one by one, quarantining
        each that raises. Returns the events applied and the records written."""
        if not rows:
            return [], 0
        try:
            with connection.begin_nested():
                return self._handle(connection, rows)
        except TRANSIENT:
            raise
        except Exception as error:
            log.warning("consumer %s: a batch of %d events failed (%s); handling them one by one", self.name,
                        len(rows), type(error).__name__)  # fmt: skip
        applied: list[StoredEvent] = []
        written = 0
        for row in rows:
            try:
                with connection.begin_nested():
                    done, count = self._handle(connection, [row])
            except TRANSIENT:
                raise
            except Exception as error:
                self._quarantine(connection, row, error)
                continue
            applied += done
            written += count
        return applied, written

    def _handle(
        self, connection: Connection, rows: Sequence[store.LogRow], *, retry: bool = False
    ) -> tuple[list[StoredEvent], int]:
        """Applies the wanted events (retries them, for an operator's retry) and reverts the orphaned ones, in store
        order."""
        applied: list[StoredEvent] = []
        written = 0
        pending: list[StoredEvent] = []
        apply = self.handler.retry if retry and isinstance(self.handler, Retrying) else self.handler.apply

        def flush() -> None:
            nonlocal written
            if pending:
                written += apply(connection, list(pending))
                applied.extend(pending)
                pending.clear()

        for row in rows:
            if row.event == ORPHANED:
                if row.args.get("event") in self.wanted:
                    flush()
                    written += self._revert(connection, int(row.args["event_id"]))
            elif row.event == UNDECODABLE:
                if row.args.get("event") in self.wanted:
                    raise UndecodableEvent(f"log {row.args.get('event')} does not decode: {row.args.get('error')}")
            elif row.event in self.wanted:
                pending.append(StoredEvent(row.id, row.chain_event(self.codec), row.evidence))
        flush()
        return applied, written

    def _revert(self, connection: Connection, event_id: int) -> int:
        target = store.rows_by_id(connection, [event_id]).get(event_id)
        store.resolve(connection, self.name, event_id)  # an orphaned event in quarantine is nothing to retry
        self._quarantine_changed = True
        if target is None or target.event not in self.wanted:
            return 0
        try:
            stored = StoredEvent(target.id, target.chain_event(self.codec))
        except ValueError:
            return 0  # it never decoded, so nothing was posted for it
        return self.handler.revert(connection, [stored])

    def _quarantine(self, connection: Connection, row: store.LogRow, error: BaseException) -> None:
        store.quarantine_event(connection, self.name, row.id, error)
        self._quarantine_changed = True
        log.error(
            "consumer %s: event %d (%s, block %d) quarantined: %s: %s",
            self.name, row.id, row.event, row.block_number, type(error).__name__, error,
        )  # fmt: skip

    # ------------------------------------------------------------------ retries and the handler's own work
    def _retry(self, event_ids: Sequence[int]) -> None:
        """Handles quarantined events again (``collab quarantine retry``): each is resolved or stays, with its
        attempts counted."""
        with self._writer.begin() as connection:
            rows = store.rows_by_id(connection, event_ids)
            for event_id in event_ids:
                row = rows.get(event_id)
                if row is None:
                    continue
                try:
                    with connection.begin_nested():
                        _, written = self._handle(connection, [row], retry=True)
                except TRANSIENT:
                    raise
                except Exception as error:
                    self._quarantine(connection, row, error)
                    continue
                store.resolve(connection, self.name, event_id)
                self.metrics.postings.inc(written)
                log.info("consumer %s: quarantined event %d processed on retry", self.name, event_id)
        self._quarantine_changed = True

    def _tick(self) -> int:
        if not isinstance(self.handler, Ticking):
            return 0
        with self._writer.begin() as connection:
            return self.handler.tick(connection)


class UndecodableEvent(ValueError):
    """A stored log of an event the consumer wants does not decode."""
