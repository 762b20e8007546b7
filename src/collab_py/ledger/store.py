"""The event store of a ledger database: what the sync appends (our contracts' logs, decoded once), what consumers
read after their cursor, the block hashes and position of the sync, and the quarantine of events a consumer could
not process. Also a log source over the store for the chain reader.

The write paths of the sync and the consumers' reads are the backfill's hot loop: rows go in with the driver's own
``executemany`` (SQLite) or ``COPY`` (PostgreSQL, psycopg), one transaction per chunk, and a consumer's batch comes
back as the driver's tuples; everything else is SQLAlchemy Core.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, delete, false, func, insert, or_, select, update

from collab_py.chain.logs import ChainEvent, ChainLogSource, EventCodec, StoreRow
from collab_py.exceptions import CollabError
from collab_py.ledger.journal import Evidence
from collab_py.ledger.schema import (
    ORPHANED,
    chain_blocks,
    chain_log,
    consumer_cursors,
    quarantine,
    sync_state,
)

#: Columns the sync writes, in order (``orphaned`` is false).
_LOG_COLUMNS = (
    "chain_id, block_number, block_hash, tx_hash, log_index, event, contract_no, voucher_id, seq, args, orphaned"
)
#: A row on the chain (not orphaned), spelled as the partial index ``uq_chain_log_log`` is in each dialect
#: (``orphaned = 0`` on SQLite, ``orphaned = false`` on PostgreSQL), so that the planner uses the index: SQLite does not
#: see that ``NOT orphaned`` or ``orphaned IS 0`` meets ``orphaned = 0`` and scans the whole store instead (0.4 s a
#: step of the sync after 100,000 payments).
_ON_CHAIN = chain_log.c.orphaned == false()
#: Longest error message kept in the quarantine.
ERROR_TEXT = 2_000


class CursorMoved(CollabError):
    """A consumer's cursor or the sync's position moved under it: another instance of it runs on this database."""


def is_postgres(connection: Connection) -> bool:
    """Whether ``connection`` is to PostgreSQL (else SQLite)."""
    return connection.dialect.name == "postgresql"


def _mark(connection: Connection) -> str:
    """The driver's parameter mark."""
    return "%s" if is_postgres(connection) else "?"


def _sql(connection: Connection, condition: ColumnElement[bool]) -> str:
    """``condition`` as the connection's dialect writes it, for a query sent to the driver."""
    return str(condition.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))


# ---------------------------------------------------------------------------------------------------- the sync
def sync_position(connection: Connection, chain_id: int, *, lock: bool = False) -> tuple[int, bytes] | None:
    """The sync's last block and its hash; ``lock`` holds the row until the transaction ends (PostgreSQL), so that
    two syncs of one database append one after the other, their rows in id order."""
    query = select(sync_state.c.block_number, sync_state.c.block_hash).where(sync_state.c.chain_id == chain_id)
    if lock and is_postgres(connection):
        query = query.with_for_update()
    row = connection.execute(query).first()
    return None if row is None else (int(row.block_number), bytes(row.block_hash))


def start_sync(
    connection: Connection, chain_id: int, number: int, block_hash: bytes, contracts: tuple[bytes, bytes]
) -> None:
    """The sync's first position (the block before the deployment's), and the deployment it follows: ``contracts``,
    the registry's and the escrow's addresses."""
    registry, escrow = contracts
    connection.execute(
        insert(sync_state).values(
            chain_id=chain_id, block_number=number, block_hash=block_hash, registry=registry, escrow=escrow
        )
    )
    connection.execute(insert(chain_blocks).values(chain_id=chain_id, block_number=number, block_hash=block_hash))


def followed_deployment(
    connection: Connection, chain_id: int, contracts: tuple[bytes, bytes]
) -> tuple[bytes, bytes] | None:
    """The deployment (registry and escrow addresses) whose logs the store holds, None before its sync starts; a
    store of before revision 0007 takes ``contracts`` as its own (once: the first sync to write them wins)."""
    registry, escrow = contracts
    connection.execute(
        update(sync_state)
        .where(sync_state.c.chain_id == chain_id, sync_state.c.registry.is_(None))
        .values(registry=registry, escrow=escrow)
    )
    row = connection.execute(
        select(sync_state.c.registry, sync_state.c.escrow).where(sync_state.c.chain_id == chain_id)
    ).first()
    return None if row is None else (bytes(row.registry), bytes(row.escrow))


def move_sync(connection: Connection, chain_id: int, previous: int, number: int, block_hash: bytes) -> None:
    """Moves the sync from block ``previous`` to ``number``; :class:`CursorMoved` if it was not at ``previous``."""
    moved = connection.execute(
        update(sync_state)
        .where(and_(sync_state.c.chain_id == chain_id, sync_state.c.block_number == previous))
        .values(block_number=number, block_hash=block_hash, updated_at=func.now())
    )
    if moved.rowcount != 1:
        raise CursorMoved(f"the sync of chain {chain_id} moved under us (another sync running?)")


def append(connection: Connection, chain_id: int, rows: Sequence[StoreRow]) -> tuple[int, int]:
    """Appends logs to the store, in order, leaving out any already stored (a replay); returns (appended, seen)."""
    if not rows:
        return 0, 0
    stored = _stored_identities(connection, chain_id, rows[0].block_number, rows[-1].block_number)
    fresh = rows if not stored else [r for r in rows if (r.block_hash, r.log_index) not in stored]
    if not fresh:
        return 0, len(rows)
    values = [(chain_id, *row, False) for row in fresh]
    if is_postgres(connection):
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY chain_log ({_LOG_COLUMNS}) FROM STDIN") as copy:
            for value in values:
                copy.write_row(value)
    else:
        marks = ", ".join("?" * 11)
        connection.exec_driver_sql(f"INSERT INTO chain_log ({_LOG_COLUMNS}) VALUES ({marks})", values)
    return len(fresh), len(rows) - len(fresh)


def _stored_identities(connection: Connection, chain_id: int, first: int, last: int) -> set[tuple[bytes, int]]:
    """The logs (block hash, index in the block) stored for blocks ``first`` to ``last``."""
    mark = _mark(connection)
    found = connection.exec_driver_sql(
        f"SELECT block_hash, log_index FROM chain_log WHERE chain_id = {mark} AND block_number >= {mark} AND "
        f"block_number <= {mark} AND log_index IS NOT NULL AND {_sql(connection, _ON_CHAIN)}",
        (chain_id, first, last),
    ).all()
    return {(bytes(block), int(index)) for block, index in found}


def remember_blocks(connection: Connection, chain_id: int, blocks: dict[int, bytes], forget_below: int) -> None:
    """Keeps the hashes of ``blocks`` (replacing any kept for those numbers) and forgets those below
    ``forget_below`` (out of the reorg window)."""
    columns = chain_blocks.c
    connection.execute(
        delete(chain_blocks).where(
            and_(
                columns.chain_id == chain_id,
                or_(columns.block_number < forget_below, columns.block_number.in_(list(blocks))),
            )
        )
    )
    connection.execute(
        insert(chain_blocks),
        [{"chain_id": chain_id, "block_number": n, "block_hash": h} for n, h in sorted(blocks.items())],
    )


def recent_blocks(connection: Connection, chain_id: int) -> list[tuple[int, bytes]]:
    """The kept block hashes, newest first."""
    columns = chain_blocks.c
    rows = connection.execute(
        select(columns.block_number, columns.block_hash)
        .where(columns.chain_id == chain_id)
        .order_by(columns.block_number.desc())
    )
    return [(int(number), bytes(block_hash)) for number, block_hash in rows]


def orphan_after(connection: Connection, chain_id: int, ancestor: int) -> int:
    """After a reorg back to block ``ancestor``: flags every stored event above it as orphaned and appends an
    :data:`~collab_py.ledger.schema.ORPHANED` marker for each, in order, so that consumers see the reorg in sequence;
    forgets the hashes of the orphaned blocks. Returns the events orphaned."""
    log = chain_log.c
    orphaned = connection.execute(
        select(log.id, log.event, log.block_number, log.block_hash, log.contract_no, log.voucher_id, log.seq)
        .where(
            and_(
                log.chain_id == chain_id,
                log.block_number > ancestor,
                _ON_CHAIN,
                log.event != ORPHANED,
            )
        )
        .order_by(log.id)
    ).all()
    if orphaned:
        connection.execute(update(chain_log).where(log.id.in_([row.id for row in orphaned])).values(orphaned=True))
        connection.execute(
            insert(chain_log),
            [
                {
                    "chain_id": chain_id,
                    "block_number": row.block_number,
                    "block_hash": row.block_hash,
                    "tx_hash": None,
                    "log_index": None,
                    "event": ORPHANED,
                    "contract_no": row.contract_no,
                    "voucher_id": row.voucher_id,
                    "seq": row.seq,
                    "args": {"event_id": row.id, "event": row.event},
                    "orphaned": False,
                }
                for row in orphaned
            ],
        )
    connection.execute(
        delete(chain_blocks).where(and_(chain_blocks.c.chain_id == chain_id, chain_blocks.c.block_number > ancestor))
    )
    return len(orphaned)


def last_id(connection: Connection) -> int:
    """The id of the newest row of the store (0 when empty)."""
    return int(connection.execute(select(func.coalesce(func.max(chain_log.c.id), 0))).scalar_one())


# ---------------------------------------------------------------------------------------------------- consumers
class LogRow:
    """A row of the store as a consumer reads it: ``args`` as stored (JSON, bytes as ``0x`` hex). Read-only."""

    __slots__ = ("_event", "args", "block_hash", "block_number", "chain_id", "event", "id", "log_index", "tx_hash")

    def __init__(
        self,
        row_id: int,
        event: str,
        block_number: int,
        block_hash: bytes,
        tx_hash: bytes | None,
        log_index: int | None,
        args: dict[str, Any],
        chain_id: int,
    ) -> None:
        self.id = row_id
        self.event = event
        self.block_number = block_number
        self.block_hash = block_hash
        self.tx_hash = tx_hash
        self.log_index = log_index
        self.args = args
        self.chain_id = chain_id
        self._event: ChainEvent | None = None

    @property
    def evidence(self) -> Evidence:
        """Where on chain the row's log is: what a journal entry posted for it seals."""
        return Evidence(self.chain_id, self.block_hash, self.tx_hash, self.log_index)

    def chain_event(self, codec: EventCodec) -> ChainEvent:
        """The event with its typed arguments (bytes as bytes), made once; ValueError when it does not decode."""
        if self._event is None:
            self._event = ChainEvent(
                name=self.event,
                args=codec.restore(self.event, self.args),
                block_number=self.block_number,
                block_hash=self.block_hash,
                tx_hash=self.tx_hash or b"",
                log_index=self.log_index if self.log_index is not None else -1,
            )
        return self._event


_READ = "SELECT id, event, block_number, block_hash, tx_hash, log_index, args, chain_id FROM chain_log"
#: The columns of :data:`_READ`, for queries built with SQLAlchemy.
_READ_COLUMNS = tuple(
    chain_log.c[name]
    for name in ("id", "event", "block_number", "block_hash", "tx_hash", "log_index", "args", "chain_id")
)


def _rows(found: Iterable[Any]) -> list[LogRow]:
    return [
        LogRow(
            int(row_id),
            event,
            int(number),
            bytes(block_hash),
            None if tx_hash is None else bytes(tx_hash),
            log_index,
            args if isinstance(args, dict) else json.loads(args),
            int(chain_id),
        )
        for row_id, event, number, block_hash, tx_hash, log_index, args, chain_id in found
    ]


def _driver_rows(connection: Connection, query: str, parameters: Sequence[Any]) -> list[Any]:
    """Every row of ``query`` as the driver's tuples, in ``connection``'s transaction: a consumer's batch is
    thousands of rows, where SQLAlchemy's row objects cost more than the read."""
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(query, parameters)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def read_after(
    connection: Connection, after: int, until: int, names: Sequence[str], limit: int
) -> tuple[list[LogRow], int]:
    """At most ``limit`` rows of the named events (markers included when asked for) with ``after < id <= until``,
    in store order, and the id up to which they are all the named rows (``until`` unless the limit cut them)."""
    mark = _mark(connection)
    events = ", ".join([mark] * len(names))
    found = _rows(
        _driver_rows(
            connection,
            f"{_READ} WHERE id > {mark} AND id <= {mark} AND event IN ({events}) ORDER BY id LIMIT {int(limit)}",
            (after, until, *names),
        )
    )
    return found, found[-1].id if len(found) == limit else until


class SharedBatch:
    """The last batch read by the consumers of one engine: consumers of the same events at the same cursor (both
    companies' accounting on a group ledger) parse it once. Rows at or below an id never change for a consumer
    (the store only appends; ``orphaned`` is not read), so a batch read once is the batch."""

    def __init__(self) -> None:
        self._key: tuple[int, int, tuple[str, ...], int] | None = None
        self._batch: tuple[list[LogRow], int] = ([], 0)

    def read(
        self, connection: Connection, after: int, until: int, names: Sequence[str], limit: int
    ) -> tuple[list[LogRow], int]:
        """:func:`read_after`, or the batch another consumer read with the same arguments."""
        key = (after, until, tuple(names), limit)
        if key != self._key:
            self._batch = read_after(connection, after, until, names, limit)
            self._key = key
        return self._batch


def rows_by_id(connection: Connection, ids: Sequence[int]) -> dict[int, LogRow]:
    """Rows of the store by id."""
    if not ids:
        return {}
    mark = _mark(connection)
    found = connection.exec_driver_sql(f"{_READ} WHERE id IN ({', '.join([mark] * len(ids))})", tuple(ids))
    return {row.id: row for row in _rows(found)}


def cursor_of(connection: Connection, consumer: str) -> int | None:
    """The last store id ``consumer`` processed; None before its first step."""
    value = connection.execute(
        select(consumer_cursors.c.event_id).where(consumer_cursors.c.consumer == consumer)
    ).scalar_one_or_none()
    return None if value is None else int(value)


def start_cursor(connection: Connection, consumer: str) -> int:
    """A new consumer's cursor: before the store's first row (it reads the store from its beginning)."""
    connection.execute(insert(consumer_cursors).values(consumer=consumer, event_id=0))
    return 0


def move_cursor(connection: Connection, consumer: str, previous: int, event_id: int) -> None:
    """Moves ``consumer``'s cursor; :class:`CursorMoved` if it was not at ``previous``."""
    moved = connection.execute(
        update(consumer_cursors)
        .where(and_(consumer_cursors.c.consumer == consumer, consumer_cursors.c.event_id == previous))
        .values(event_id=event_id, updated_at=func.now())
    )
    if moved.rowcount != 1:
        raise CursorMoved(f"the cursor of {consumer} moved under us (another instance running?)")


def find_events(
    connection: Connection,
    names: Sequence[str],
    *,
    voucher_ids: Sequence[bytes] = (),
    contract_nos: Sequence[bytes] = (),
) -> list[LogRow]:
    """Stored events (not orphaned) of the named kinds for these vouchers or contracts, in store order: the indexed
    reads of the handlers and the readers."""
    log = chain_log.c
    keys = []
    if voucher_ids:
        keys.append(log.voucher_id.in_(list(voucher_ids)))
    if contract_nos:
        keys.append(log.contract_no.in_(list(contract_nos)))
    if not keys:
        return []
    found = connection.execute(
        select(*_READ_COLUMNS).where(and_(log.event.in_(list(names)), _ON_CHAIN, or_(*keys))).order_by(log.id)
    )
    return _rows(found)


# ---------------------------------------------------------------------------------------------------- quarantine
@dataclass(frozen=True)
class Quarantined:
    """An event a consumer could not process, and why."""

    consumer: str
    event_id: int
    event: str
    block_number: int
    error_type: str
    error: str
    attempts: int
    retry: bool
    first_seen: datetime | None
    last_seen: datetime | None
    resolved_at: datetime | None


def quarantine_event(connection: Connection, consumer: str, event_id: int, error: BaseException) -> None:
    """Records (or records again) that ``consumer`` could not process event ``event_id``."""
    text = str(error)[:ERROR_TEXT]
    kind = type(error).__name__[:128]
    columns = quarantine.c
    key = and_(columns.consumer == consumer, columns.event_id == event_id)
    again = connection.execute(
        update(quarantine)
        .where(key)
        .values(
            error_type=kind,
            error=text,
            attempts=columns.attempts + 1,
            retry=False,
            last_seen=func.now(),
            resolved_at=None,
        )
    )
    if again.rowcount == 0:
        connection.execute(
            insert(quarantine).values(
                consumer=consumer, event_id=event_id, error_type=kind, error=text, attempts=1, retry=False
            )
        )


def resolve(connection: Connection, consumer: str, event_id: int) -> None:
    """Marks a quarantined event as processed."""
    connection.execute(
        update(quarantine)
        .where(and_(quarantine.c.consumer == consumer, quarantine.c.event_id == event_id))
        .values(resolved_at=func.now(), retry=False, last_seen=func.now())
    )


def quarantined(
    database: Engine | Connection, consumer: str | None = None, *, include_resolved: bool = False
) -> list[Quarantined]:
    """The quarantined events (of one consumer, or all), oldest first."""
    q, log = quarantine.c, chain_log.c
    query = (
        select(
            q.consumer, q.event_id, log.event, log.block_number, q.error_type, q.error, q.attempts, q.retry,
            q.first_seen, q.last_seen, q.resolved_at,
        )
        .join(chain_log, log.id == q.event_id)
        .order_by(q.id)
    )  # fmt: skip
    if consumer is not None:
        query = query.where(q.consumer == consumer)
    if not include_resolved:
        query = query.where(q.resolved_at.is_(None))

    def run(connection: Connection) -> list[Quarantined]:
        return [Quarantined(*row) for row in connection.execute(query)]

    if isinstance(database, Connection):
        return run(database)
    with database.connect() as connection:
        return run(connection)


def unresolved(connection: Connection, consumer: str) -> int:
    """How many events ``consumer`` has in quarantine."""
    q = quarantine.c
    return int(
        connection.execute(
            select(func.count()).where(and_(q.consumer == consumer, q.resolved_at.is_(None)))
        ).scalar_one()
    )


def retry_requested(connection: Connection, consumer: str, limit: int = 100) -> list[int]:
    """Event ids of ``consumer`` whose retry was asked for (``collab quarantine retry``)."""
    q = quarantine.c
    query = (
        select(q.event_id)
        .where(and_(q.consumer == consumer, q.retry.is_(True), q.resolved_at.is_(None)))
        .order_by(q.event_id)
        .limit(limit)
    )
    return [int(event_id) for event_id in connection.execute(query).scalars()]


def request_retry(database: Engine, consumer: str | None = None, event_ids: Sequence[int] = ()) -> int:
    """Asks the consumers to process quarantined events again at their next step (all of them, those of one
    consumer, or the given event ids); returns how many were asked."""
    q = quarantine.c
    conditions: list[ColumnElement[bool]] = [q.resolved_at.is_(None)]
    if consumer is not None:
        conditions.append(q.consumer == consumer)
    if event_ids:
        conditions.append(q.event_id.in_(list(event_ids)))
    with database.begin() as connection:
        return int(connection.execute(update(quarantine).where(and_(*conditions)).values(retry=True)).rowcount)


# ---------------------------------------------------------------------------------------------------- readers
class StoreLogSource:
    """Events from a ledger's event store, by voucher id or contract number (indexed: the cost of a read does not
    grow with the chain's history). The store trails the chain by the confirmations and the sync's pace: an event
    newer than the sync (a key the store has nothing for) is looked for in ``tail`` — the chain after the sync's
    block, a bounded range — when one is given.

    ``current``: every key is also looked for in ``tail``, so that a read right after a transaction sees it (a key
    the store knows may have newer events), while the sync trails the head by less than one capped read of ``tail``;
    for a reader serving people (the platform), not for consumers, which read in the store's order."""

    def __init__(
        self,
        database: Engine,
        chain_id: int,
        codec: EventCodec,
        tail: ChainLogSource | None = None,
        *,
        current: bool = False,
    ) -> None:
        self.database = database
        self.chain_id = chain_id
        self.codec = codec
        self.tail = tail
        self.current = current

    def query(
        self,
        names: Sequence[str],
        keys: Sequence[bytes] | None = None,
        from_block: int | None = None,
        to_block: int | None = None,
    ) -> list[ChainEvent]:
        """As :class:`~collab_py.chain.logs.LogSource`: from the store, then from the chain for keys it lacks."""
        with self.database.connect() as connection:
            # the sync's block first, then the rows up to it: a step committed between the two reads (each its own
            # snapshot on PostgreSQL) leaves its events to the read of the chain after that block, never to neither
            synced = sync_position(connection, self.chain_id)
            if keys is None:
                rows = self._range(connection, names, from_block, to_block)
            else:
                by_column: dict[str, list[str]] = {}
                for name in names:
                    by_column.setdefault(self.codec.first_indexed(name) or "", []).append(name)
                rows = []
                for column, grouped in by_column.items():
                    if column == "voucherId":
                        rows += find_events(connection, grouped, voucher_ids=keys)
                    elif column == "contractNo":
                        rows += find_events(connection, grouped, contract_nos=keys)
                    else:
                        raise ValueError(f"events {grouped} cannot be selected by key in the store")
                rows = sorted(
                    (row for row in rows if synced is None or row.block_number <= synced[0]), key=lambda row: row.id
                )
        events = [row.chain_event(self.codec) for row in rows]
        if keys is not None and self.tail is not None:
            events += self._after_sync(self.tail, names, keys, events, synced)
        return events

    def _after_sync(
        self,
        tail: ChainLogSource,
        names: Sequence[str],
        keys: Sequence[bytes],
        stored: Sequence[ChainEvent],
        synced: tuple[int, bytes] | None,
    ) -> list[ChainEvent]:
        """The events of ``keys`` on the chain after the sync's block: of the keys the store has nothing for, or,
        when :attr:`current`, of every key while the sync trails the head by less than one capped read."""
        start = synced[0] + 1 if synced is not None else None
        found = {_key(event, self.codec) for event in stored}
        wanted = [key for key in keys if key not in found]
        head: int | None = None
        if self.current and start is not None and len(wanted) < len(keys):
            head = int(tail.w3.eth.block_number)
            if head - start < tail.reader.max_range:
                wanted = list(keys)
        return tail.query(names, wanted, from_block=start, to_block=head) if wanted else []

    def _range(
        self, connection: Connection, names: Sequence[str], from_block: int | None, to_block: int | None
    ) -> list[LogRow]:
        log = chain_log.c
        conditions = [log.event.in_(list(names)), _ON_CHAIN, log.chain_id == self.chain_id]
        if from_block is not None:
            conditions.append(log.block_number >= from_block)
        if to_block is not None:
            conditions.append(log.block_number <= to_block)
        found = connection.execute(select(*_READ_COLUMNS).where(and_(*conditions)).order_by(log.id))
        return _rows(found)


def _key(event: ChainEvent, codec: EventCodec) -> bytes | None:
    name = codec.first_indexed(event.name)
    value = event.args.get(name) if name else None
    return value if isinstance(value, bytes) else None
