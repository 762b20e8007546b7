"""What the ledger's readers ask of it: the journal, the net amounts posted per contract, the invoices recorded."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, select

from collab_py.domain.presentation import amount, plain
from collab_py.ledger.schema import REVERSAL, invoices, journal_entries, journal_lines

#: Net postings of one contract: ``(seq, org, counterparty org)`` -> amount.
Postings = dict[tuple[int, int, int], int]


def posted_totals(database: Engine, kind: str) -> dict[str, Postings]:
    """Net amounts posted as ``kind`` per contract, payment seq, posting org and counterparty, reversals deducted:
    each entry counts for the sum of its debit lines (what the books show), not for its ``amount`` column."""
    entries, lines = journal_entries.c, journal_lines.c
    totals: dict[str, Postings] = defaultdict(lambda: defaultdict(int))
    with database.connect() as connection:
        rows = connection.execute(
            select(
                entries.id,
                entries.org_id,
                entries.kind,
                entries.contract_no,
                entries.seq,
                entries.counterparty_org,
                entries.reverses_id,
                lines.debit,
            )
            .outerjoin(journal_lines, lines.entry_id == entries.id)
            .order_by(entries.id)
        ).all()
    kinds = {row.id: row.kind for row in rows}
    reversed_ids = {row.reverses_id for row in rows if row.kind == REVERSAL and kinds.get(row.reverses_id) == kind}
    for row in rows:
        if row.kind == kind and row.id not in reversed_ids:
            totals[row.contract_no][(row.seq, row.org_id, row.counterparty_org)] += row.debit or 0
    return {contract_no: dict(postings) for contract_no, postings in totals.items()}


class JournalLine(BaseModel):
    """One line of a journal entry, for display and export: debit and credit in token units (:meth:`view`: in
    currency units)."""

    model_config = ConfigDict(frozen=True)

    entry_id: int
    org_id: int
    kind: str
    contract_no: str
    seq: int
    account: str
    debit: int
    credit: int
    reverses: int | None
    memo: str

    def view(self, decimals: int) -> dict[str, Any]:
        """The line as shown: debit and credit in currency units of an asset of ``decimals``."""
        return self.model_dump() | {"debit": amount(self.debit, decimals), "credit": amount(self.credit, decimals)}


def journal(database: Engine, org_id: int | None = None) -> list[JournalLine]:
    """Every journal line (of one org, or all), in posting order."""
    entries, lines = journal_entries.c, journal_lines.c
    query = (
        select(
            entries.id,
            entries.org_id,
            entries.kind,
            entries.contract_no,
            entries.seq,
            entries.reverses_id,
            entries.memo,
            lines.account,
            lines.debit,
            lines.credit,
        )
        .join(journal_lines, lines.entry_id == entries.id)
        .order_by(entries.id, lines.id)
    )
    if org_id is not None:
        query = query.where(entries.org_id == org_id)
    with database.connect() as connection:
        return [
            JournalLine(
                entry_id=row.id,
                org_id=row.org_id,
                kind=row.kind,
                contract_no=row.contract_no,
                seq=row.seq,
                account=row.account,
                debit=row.debit,
                credit=row.credit,
                reverses=row.reverses_id,
                memo=row.memo,
            )
            for row in connection.execute(query)
        ]


def export(lines: Sequence[JournalLine], fmt: str, decimals: int) -> str:
    """The lines as CSV or JSON text, debit and credit in currency units of an asset of ``decimals`` as exact decimal
    strings (``"1000.50"``, ``"0.00"``)."""
    rows = [plain(line.view(decimals)) for line in lines]
    if fmt == "json":
        return json.dumps(rows, indent=2)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(JournalLine.model_fields))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def invoice_rows(database: Engine) -> list[dict[str, Any]]:
    """The invoices recorded in a ledger database, oldest first (document left out)."""
    columns = invoices.c
    query = select(
        columns.org_id, columns.direction, columns.status, columns.contract_no, columns.seq, columns.invoice_no,
        columns.amount, columns.tax, columns.reason,
    ).order_by(columns.id)  # fmt: skip
    with database.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]
