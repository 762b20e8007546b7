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

from collab_py.domain.models import SecondVoucherRecord
from collab_py.ledger.schema import journal_entries, journal_lines
from collab_py.listener.handlers.accounting import PAYMENT, RECEIPT, REVERSAL


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


#: Net postings of one contract: ``(seq, org, counterparty org)`` -> amount.
Postings = dict[tuple[int, int, int], int]


def posted_totals(database: Engine, kind: str) -> dict[str, Postings]:
    """Net amounts posted as ``kind`` per contract, payment seq, posting org and counterparty, reversals deducted."""
    entries = journal_entries.c
    totals: dict[str, Postings] = defaultdict(lambda: defaultdict(int))
    with database.connect() as connection:
        rows = connection.execute(
            select(
                entries.id,
                entries.org_id,
                entries.kind,
                entries.contract_no,
                entries.seq,
                entries.amount,
                entries.counterparty_org,
                entries.reverses_id,
            ).order_by(entries.id)
        ).all()
    kinds = {row.id: row.kind for row in rows}
    reversed_ids = {row.reverses_id for row in rows if row.kind == REVERSAL and kinds.get(row.reverses_id) == kind}
    for row in rows:
        if row.kind == kind and row.id not in reversed_ids:
            totals[row.contract_no][(row.seq, row.org_id, row.counterparty_org)] += row.amount
    return {contract_no: dict(postings) for contract_no, postings in totals.items()}


def reconcile(
    vouchers: Iterable[SecondVoucherRecord], payer_books: Engine, payee_books: Engine | None = None
) -> Reconciliation:
    """Compares the chain's second vouchers with the payers' PAYMENT and the payees' RECEIPT postings: every
    contract that has either, each read once.

    ``payer_books`` and ``payee_books`` are the two companies' ledger databases (the same one when both post to a
    group ledger).
    """
    by_contract: dict[str, list[SecondVoucherRecord]] = defaultdict(list)
    for voucher in vouchers:
        by_contract[voucher.contract_no].append(voucher)
    payable = posted_totals(payer_books, PAYMENT)
    receivable = posted_totals(payee_books or payer_books, RECEIPT)
    results = []
    for contract_no in sorted(by_contract.keys() | payable.keys() | receivable.keys()):
        items = by_contract.get(contract_no, [])
        paid, received = payable.get(contract_no, {}), receivable.get(contract_no, {})
        if items:
            payer, payee = items[0].payer_org, items[0].payee_org
        elif paid:  # postings without any second voucher: the parties as the books name them
            _, payer, payee = next(iter(paid))
        else:
            _, payee, payer = next(iter(received))
        mismatches = _mismatches(items, ("payable", paid, payer, payee)) + _mismatches(
            items, ("receivable", received, payee, payer)
        )
        results.append(
            ContractReconciliation(
                contract_no=contract_no,
                payer_org=payer,
                payee_org=payee,
                on_chain=sum(voucher.amount for voucher in items),
                payable_posted=sum(paid.values()),
                receivable_posted=sum(received.values()),
                vouchers=len(items),
                mismatches=tuple(mismatches),
            )
        )
    return Reconciliation(contracts=tuple(results))


def _mismatches(vouchers: Sequence[SecondVoucherRecord], side: tuple[str, Postings, int, int]) -> list[str]:
    """What one side's postings of a contract do not share with its second vouchers."""
    name, postings, org, counterparty = side
    found = []
    for voucher in vouchers:
        amount = postings.get((voucher.seq, org, counterparty), 0)
        if amount != voucher.amount:
            found.append(f"payment {voucher.seq}: org {org} posted {name} {amount}, chain paid {voucher.amount}")
    paid = {voucher.seq for voucher in vouchers}
    for (seq, poster, other), amount in postings.items():
        if seq not in paid:
            found.append(f"payment {seq}: org {poster} posted {name} {amount} with no second voucher")
        elif (poster, other) != (org, counterparty):
            found.append(f"payment {seq}: org {poster} posted {name} {amount} against org {other}, not its party")
    return found


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
