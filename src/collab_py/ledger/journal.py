"""Writing the journal: the one place where entries and their lines are inserted (postings) and compensated
(reversals). Nothing else writes ``journal_entries`` or ``journal_lines``.

Postings go in with the driver's own ``executemany`` (SQLite) or ``COPY`` (PostgreSQL): the backfill writes tens of
thousands a second, where SQLAlchemy Core's per-row work would cost more than the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, insert, select

from collab_py.ledger.schema import REVERSAL, Amount, journal_entries, journal_lines

_ENTRY_COLUMNS = "id, org_id, kind, contract_no, seq, voucher_id, amount, counterparty_org, event_id, memo"
_LINE_COLUMNS = "entry_id, account, debit, credit"


class Posting(NamedTuple):
    """A balanced entry to write: what, for whom, and its two lines."""

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


def write_postings(connection: Connection, org_id: int, postings: Sequence[Posting]) -> None:
    """Inserts balanced entries (one debit and one credit line each) for ``org_id`` in bulk."""
    if not postings:
        return
    postgres = connection.dialect.name == "postgresql"
    money = _money(connection)
    amounts = [money(p.amount) for p in postings]
    ids: Sequence[int]
    if postgres:
        ids = _new_ids(connection, len(postings))
    else:  # SQLite: the rowids follow the table's largest, and this transaction holds the write lock
        entries = [
            (org_id, p.kind, p.contract_no, p.seq, p.voucher_id, amount, p.counterparty, p.event_id, p.memo)
            for p, amount in zip(postings, amounts, strict=True)
        ]
        connection.exec_driver_sql(
            f"INSERT INTO journal_entries ({_ENTRY_COLUMNS.removeprefix('id, ')}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        for entry_id, p in zip(ids, postings, strict=True):
            copy.write_row(
                (entry_id, org_id, p.kind, p.contract_no, p.seq, p.voucher_id, p.amount, p.counterparty, p.event_id,
                 p.memo)
            )  # fmt: skip
    with cursor.copy(f"COPY journal_lines ({_LINE_COLUMNS}) FROM STDIN") as copy:
        for line in lines:
            copy.write_row(line)


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
    """Posts a reversal (lines swapped) of every entry of ``org_id`` caused by ``event_ids`` that is not reversed
    yet; returns the count."""
    if not event_ids:
        return 0
    entries = journal_entries.c
    caused = connection.execute(
        select(journal_entries).where(
            and_(entries.org_id == org_id, entries.event_id.in_(list(event_ids)), entries.kind != REVERSAL)
        )
    ).all()
    done = set(
        connection.execute(
            select(entries.reverses_id).where(entries.reverses_id.in_([entry.id for entry in caused]))
        ).scalars()
    )
    count = 0
    for entry in caused:
        if entry.id in done:
            continue
        reversal = connection.execute(
            insert(journal_entries)
            .values(
                org_id=org_id,
                kind=REVERSAL,
                contract_no=entry.contract_no,
                seq=entry.seq,
                voucher_id=entry.voucher_id,
                amount=entry.amount,
                counterparty_org=entry.counterparty_org,
                event_id=entry.event_id,
                reverses_id=entry.id,
                memo=f"reversal of {entry.kind} entry {entry.id}: its block was orphaned by a reorg",
            )
            .returning(entries.id)
        ).scalar_one()
        lines = connection.execute(select(journal_lines).where(journal_lines.c.entry_id == entry.id)).all()
        connection.execute(
            insert(journal_lines),
            [
                {"entry_id": reversal, "account": line.account, "debit": line.credit, "credit": line.debit}
                for line in lines
            ],
        )
        count += 1
    return count
