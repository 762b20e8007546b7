"""Writing the journal: the one place where entries and their lines are inserted (postings and reversals). Nothing
else writes ``journal_entries`` or ``journal_lines``, and nothing updates or deletes them: the migrations' triggers
refuse it, and a correction is a reversal entry.

Each org's entries form a hash chain: an entry stores the hash of the org's previous entry (``prev_hash``, zeros for
its first) and its own (``entry_hash``), the SHA-256 of that previous hash and a canonical encoding of its fields,
its lines and its chain evidence (:func:`entry_digest`). Writers of one org take their turn (PostgreSQL: an advisory
lock per org until commit; SQLite has one writer), so that the chain follows the entry ids.

Postings go in with the driver's own ``executemany`` (SQLite) or ``COPY`` (PostgreSQL): the backfill writes tens of
thousands a second, where SQLAlchemy Core's per-row work would cost more than the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, select

from collab_py.ledger.schema import REVERSAL, Amount, chain_log, journal_entries, journal_lines

_ENTRY_COLUMNS = (
    "id, org_id, kind, contract_no, seq, voucher_id, amount, counterparty_org, event_id, reverses_id, memo, "
    "prev_hash, entry_hash"
)
_LINE_COLUMNS = "entry_id, account, debit, credit"
#: The canonical encoding of an entry's fields: compact JSON, non-ASCII characters as they are (one encoder for
#: every entry: ``json.dumps`` with options builds one per call).
_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
#: The previous hash of an org's first entry.
GENESIS = bytes(32)
#: Advisory lock namespace of the journal's writers on PostgreSQL (with the org id as the second key).
_LOCK_SPACE = 0x636F6C6C  # "coll"


class Evidence(NamedTuple):
    """Where on chain the event behind an entry is: chain, block hash, transaction hash, log index."""

    chain_id: int
    block_hash: bytes
    tx_hash: bytes | None
    log_index: int | None


class Posting(NamedTuple):
    """A balanced entry to write: what, for whom, and its two lines (a reversal names the entry it reverses); the
    chain evidence of its event when the writer has it in hand (else it is read from the store)."""

    kind: str
    event_id: int
    contract_no: str
    seq: int
    voucher_id: bytes
    amount: int
    counterparty: int
    debit: str
    credit: str
    memo: str
    reverses: int | None = None
    evidence: Evidence | None = None


#: A line as the hash covers it: account, debit, credit.
Line = tuple[str, int, int]


class Sealed(NamedTuple):
    """What an entry's hash covers besides the previous hash: its fields, its evidence and its lines in order."""

    org_id: int
    kind: str
    contract_no: str
    seq: int
    voucher_id: bytes
    amount: int
    counterparty_org: int
    reverses_id: int | None
    memo: str
    evidence: Evidence | None
    lines: tuple[Line, ...]


def entry_digest(previous: bytes, entry: Sealed) -> bytes:
    """SHA-256 of ``previous`` and the canonical encoding of ``entry``: compact JSON of its fields in a fixed order
    (bytes as hex, amounts as integers), version-tagged so that a later encoding cannot be confused with this one."""
    evidence = entry.evidence
    fields = [
        "collab-journal-v1",
        entry.org_id,
        entry.kind,
        entry.contract_no,
        entry.seq,
        entry.voucher_id.hex(),
        entry.amount,
        entry.counterparty_org,
        entry.reverses_id,
        entry.memo,
        None
        if evidence is None
        else [evidence.chain_id, evidence.block_hash.hex(), (evidence.tx_hash or b"").hex(), evidence.log_index],
        [list(line) for line in entry.lines],
    ]
    return hashlib.sha256(previous + _CANONICAL.encode(fields).encode()).digest()


def write_postings(connection: Connection, org_id: int, postings: Sequence[Posting]) -> None:
    """Inserts balanced entries (one debit and one credit line each) for ``org_id`` in bulk, chained to its last."""
    if not postings:
        return
    postgres = connection.dialect.name == "postgresql"
    previous = _head(connection, org_id)
    stored = _evidence(connection, [p.event_id for p in postings if p.evidence is None])
    chained: list[tuple[bytes, bytes]] = []
    for p in postings:
        sealed = Sealed(
            org_id, p.kind, p.contract_no, p.seq, p.voucher_id, p.amount, p.counterparty, p.reverses, p.memo,
            p.evidence or stored.get(p.event_id), ((p.debit, p.amount, 0), (p.credit, 0, p.amount)),
        )  # fmt: skip
        digest = entry_digest(previous, sealed)
        chained.append((previous, digest))
        previous = digest
    money = _money(connection)
    amounts = [money(p.amount) for p in postings]
    ids: Sequence[int]
    if postgres:
        ids = _new_ids(connection, len(postings))
    else:  # SQLite: the rowids follow the table's largest, and this transaction holds the write lock
        entries = [
            (org_id, p.kind, p.contract_no, p.seq, p.voucher_id, amount, p.counterparty, p.event_id, p.reverses,
             p.memo, prev, digest)
            for p, amount, (prev, digest) in zip(postings, amounts, chained, strict=True)
        ]  # fmt: skip
        connection.exec_driver_sql(
            f"INSERT INTO journal_entries ({_ENTRY_COLUMNS.removeprefix('id, ')}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            entries,
        )
        last = int(connection.exec_driver_sql("SELECT max(id) FROM journal_entries").scalar_one())
        ids = range(last - len(postings) + 1, last + 1)
    lines: list[tuple[int, str, Any, Any]] = []
    zero = money(0)
    for entry_id, p, amount in zip(ids, postings, amounts, strict=True):
        lines.append((entry_id, p.debit, amount, zero))
        lines.append((entry_id, p.credit, zero, amount))
    if not postgres:
        connection.exec_driver_sql(f"INSERT INTO journal_lines ({_LINE_COLUMNS}) VALUES (?, ?, ?, ?)", lines)
        return
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY journal_entries ({_ENTRY_COLUMNS}) FROM STDIN") as copy:
        for entry_id, p, (prev, digest) in zip(ids, postings, chained, strict=True):
            copy.write_row(
                (entry_id, org_id, p.kind, p.contract_no, p.seq, p.voucher_id, p.amount, p.counterparty, p.event_id,
                 p.reverses, p.memo, prev, digest)
            )  # fmt: skip
    with cursor.copy(f"COPY journal_lines ({_LINE_COLUMNS}) FROM STDIN") as copy:
        for line in lines:
            copy.write_row(line)


def _head(connection: Connection, org_id: int) -> bytes:
    """The hash of ``org_id``'s last entry (:data:`GENESIS` if none); on PostgreSQL, after taking the org's writer
    lock (held until the transaction ends)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_SPACE, org_id))
    entries = journal_entries.c
    last = connection.execute(
        select(entries.entry_hash).where(entries.org_id == org_id).order_by(entries.id.desc()).limit(1)
    ).scalar_one_or_none()
    return GENESIS if last is None else bytes(last)


def _evidence(connection: Connection, event_ids: Sequence[int]) -> dict[int, Evidence]:
    """The chain evidence of the stored events ``event_ids`` (one range read of the store; none without ids)."""
    if not event_ids:
        return {}
    log = chain_log.c
    wanted = set(event_ids)
    rows = connection.execute(
        select(log.id, log.chain_id, log.block_hash, log.tx_hash, log.log_index).where(
            log.id.between(min(wanted), max(wanted))
        )
    )
    return {
        row.id: Evidence(row.chain_id, bytes(row.block_hash), None if row.tx_hash is None else bytes(row.tx_hash),
                         row.log_index)
        for row in rows
        if row.id in wanted
    }  # fmt: skip


def _money(connection: Connection) -> Any:
    """How an amount is written by the driver: :class:`~collab_py.ledger.schema.Amount`'s form for the dialect."""
    if connection.dialect.name == "postgresql":
        return int
    width = Amount._WIDTH
    return lambda value: (
        str(value).zfill(width) if value >= 0 else Amount().process_bind_param(value, connection.dialect)
    )


def _new_ids(connection: Connection, count: int) -> list[int]:
    """``count`` ids from the entries' sequence (PostgreSQL: other writers may take ids meanwhile)."""
    rows = connection.exec_driver_sql(
        "SELECT nextval(pg_get_serial_sequence('journal_entries', 'id')) FROM generate_series(1, %s)", (count,)
    )
    return [int(value) for (value,) in rows]


def reverse_postings(connection: Connection, org_id: int, event_ids: Sequence[int]) -> int:
    """Posts a reversal (the original's accounts swapped) of every entry of ``org_id`` caused by ``event_ids`` that
    is not reversed yet; returns the count."""
    if not event_ids:
        return 0
    entries, lines = journal_entries.c, journal_lines.c
    caused = connection.execute(
        select(journal_entries)
        .where(and_(entries.org_id == org_id, entries.event_id.in_(list(event_ids)), entries.kind != REVERSAL))
        .order_by(entries.id)
    ).all()
    done = set(
        connection.execute(
            select(entries.reverses_id).where(entries.reverses_id.in_([entry.id for entry in caused]))
        ).scalars()
    )
    todo = [entry for entry in caused if entry.id not in done]
    accounts: dict[int, list[str]] = {entry.id: [] for entry in todo}
    for line in connection.execute(
        select(lines.entry_id, lines.account).where(lines.entry_id.in_(list(accounts))).order_by(lines.id)
    ):
        accounts[line.entry_id].append(line.account)  # the debit line first, then the credit line
    write_postings(
        connection,
        org_id,
        [
            Posting(
                REVERSAL, entry.event_id, entry.contract_no, entry.seq, entry.voucher_id, entry.amount,
                entry.counterparty_org, accounts[entry.id][1], accounts[entry.id][0],
                f"reversal of {entry.kind} entry {entry.id}: its block was orphaned by a reorg", entry.id,
            )
            for entry in todo
        ],
    )  # fmt: skip
    return len(todo)
