"""Reconciliation (S8.4) and the journal: per contract, Party A's payable postings against Party B's receivable
postings against the second vouchers on chain, every mismatch named; journal entries shown and exported."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, select

from collab_py.accounting import PAYMENT, RECEIPT, REVERSAL
from collab_py.ledger.schema import journal_entries, journal_lines
from collab_py.models import SecondVoucherRecord


class ContractReconciliation(BaseModel):
    """One contract's three figures and what does not match."""

    model_config = ConfigDict(frozen=True)

    contract_no: str
    payer_org: int
    payee_org: int
    on_chain: int
    payable_posted: int
    receivable_posted: int
    vouchers: int
    mismatches: tuple[str, ...]


class Reconciliation(BaseModel):
    """The group's reconciliation: clean when no contract has a mismatch."""

    model_config = ConfigDict(frozen=True)

    contracts: tuple[ContractReconciliation, ...]

    @property
    def clean(self) -> bool:
        """No mismatch anywhere."""
        return all(not contract.mismatches for contract in self.contracts)


def posted_totals(database: Engine, org_id: int, kind: str) -> dict[tuple[str, int], int]:
    """Net amount ``org_id`` posted as ``kind`` per (contract, seq), reversals deducted."""
    entries = journal_entries.c
    totals: dict[tuple[str, int], int] = defaultdict(int)
    reversed_ids: set[int] = set()
    with database.connect() as connection:
        rows = connection.execute(
            select(entries.id, entries.kind, entries.contract_no, entries.seq, entries.amount, entries.reverses_id)
            .where(entries.org_id == org_id)
            .order_by(entries.id)
        ).all()
    kinds = {row.id: row.kind for row in rows}
    for row in rows:
        if row.kind == REVERSAL and kinds.get(row.reverses_id) == kind:
            reversed_ids.add(row.reverses_id)
    for row in rows:
        if row.kind == kind and row.id not in reversed_ids:
            totals[(row.contract_no, row.seq)] += row.amount
    return dict(totals)


def reconcile(
    vouchers: Iterable[SecondVoucherRecord], payer_books: Engine, payee_books: Engine | None = None
) -> Reconciliation:
    """Compares the chain's second vouchers with the payers' PAYMENT and the payees' RECEIPT postings.

    ``payer_books`` and ``payee_books`` are the two companies' ledger databases (the same one when both post to a
    group ledger).
    """
    payee_books = payee_books or payer_books
    by_contract: dict[str, list[SecondVoucherRecord]] = defaultdict(list)
    for voucher in vouchers:
        by_contract[voucher.contract_no].append(voucher)
    payable: dict[int, dict[tuple[str, int], int]] = {}
    receivable: dict[int, dict[tuple[str, int], int]] = {}
    results = []
    for contract_no, items in sorted(by_contract.items()):
        payer, payee = items[0].payer_org, items[0].payee_org
        payable.setdefault(payer, posted_totals(payer_books, payer, PAYMENT))
        receivable.setdefault(payee, posted_totals(payee_books, payee, RECEIPT))
        mismatches: list[str] = []
        for voucher in items:
            key = (contract_no, voucher.seq)
            a, b = payable[payer].get(key, 0), receivable[payee].get(key, 0)
            if a != voucher.amount:
                mismatches.append(f"payment {voucher.seq}: org {payer} posted payable {a}, chain paid {voucher.amount}")
            if b != voucher.amount:
                mismatches.append(
                    f"payment {voucher.seq}: org {payee} posted receivable {b}, chain paid {voucher.amount}"
                )
        seqs = {voucher.seq for voucher in items}
        for books, org, side in ((payable, payer, "payable"), (receivable, payee, "receivable")):
            for (number, seq), amount in books[org].items():
                if number == contract_no and seq not in seqs:
                    mismatches.append(f"payment {seq}: org {org} posted {side} {amount} with no second voucher")
        results.append(
            ContractReconciliation(
                contract_no=contract_no,
                payer_org=payer,
                payee_org=payee,
                on_chain=sum(voucher.amount for voucher in items),
                payable_posted=sum(v for (n, _), v in payable[payer].items() if n == contract_no),
                receivable_posted=sum(v for (n, _), v in receivable[payee].items() if n == contract_no),
                vouchers=len(items),
                mismatches=tuple(mismatches),
            )
        )
    return Reconciliation(contracts=tuple(results))


class JournalLine(BaseModel):
    """One line of a journal entry, for display and export."""

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


def export(lines: Sequence[JournalLine], fmt: str) -> str:
    """The lines as CSV or JSON text."""
    if fmt == "json":
        return json.dumps([line.model_dump() for line in lines], indent=2)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(JournalLine.model_fields))
    writer.writeheader()
    for line in lines:
        writer.writerow(line.model_dump())
    return buffer.getvalue()
