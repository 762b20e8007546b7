"""Accounting (S8.1): an org's listener posts balanced journal entries from the chain's payment events.

For the payer (Party A): the freeze (Dr deposits frozen in escrow / Cr bank), the payment on the second voucher
(Dr intercompany payable – payee / Cr deposits frozen), and a reclaim (Dr bank / Cr deposits frozen). For the payee
(Party B): the receipt on the second voucher (Dr bank / Cr intercompany receivable – payer), or, when the payment key
was assigned to a third member, Dr intercompany payable – that member / Cr receivable – payer. For that member
(Party C): Dr bank / Cr intercompany receivable – payee. Each entry links to the chain event it comes from. After a
reorg, entries of orphaned events are compensated by reversal entries (debit and credit swapped).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from sqlalchemy import Connection, and_, insert, select

from collab_py.domain.types import contract_number_text
from collab_py.exceptions import CollabError
from collab_py.files import MAX_SMALL_FILE_BYTES, read_bounded
from collab_py.ledger.schema import (
    ASSIGNMENT,
    FREEZE,
    PAYMENT,
    RECEIPT,
    RECLAIM,
    REVERSAL,
    chain_events,
    journal_entries,
    journal_lines,
)
from collab_py.listener.engine import StoredEvent


class ChartError(CollabError):
    """The chart of accounts file is missing or malformed."""


class ChartOfAccounts(BaseModel):
    """Account names; ``{org}`` is replaced by the counterparty's org id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bank: str = "1002 Bank - tokenised deposits"
    frozen: str = "1012 Deposits frozen in escrow"
    receivable: str = "1131 Intercompany receivable - org {org}"
    payable: str = "2241 Intercompany payable - org {org}"

    @field_validator("bank", "frozen", "receivable", "payable")
    @classmethod
    def _template(cls, name: str) -> str:
        """Refuses a name that cannot be formatted when posting (``{x}``, a lone ``{``) while the chart loads."""
        try:
            name.format(org=2**32 - 1)  # the largest org id
        except (KeyError, IndexError, ValueError, TypeError, AttributeError, OverflowError) as error:
            raise ValueError(f"{{org}} is the only placeholder of an account name: {type(error).__name__}") from None
        return name

    @classmethod
    def load(cls, path: Path | None) -> ChartOfAccounts:
        """The chart in a JSON file, or the default one."""
        if path is None:
            return cls()
        try:
            return cls.model_validate(json.loads(read_bounded(path, MAX_SMALL_FILE_BYTES, "chart of accounts")))
        except (OSError, ValueError, ValidationError, RecursionError) as error:
            raise ChartError(f"invalid chart of accounts {path}: {type(error).__name__}") from None


@dataclass(frozen=True)
class Posting:
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


class AccountingHandler:
    """Posts org ``org_id``'s books from the events of the payments it is party to."""

    events: tuple[str, ...] = ("ContractProposed", "PaymentVoucherIssued", "SecondVoucher", "PaymentReclaimed")

    def __init__(self, org_id: int, chart: ChartOfAccounts | None = None) -> None:
        self.org_id = org_id
        self.chart = chart or ChartOfAccounts()
        self._parties: dict[bytes, tuple[int, int]] = {}

    def apply(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """Writes the postings of newly confirmed events."""
        postings = [posting for stored in events for posting in self._postings(connection, stored)]
        write_postings(connection, self.org_id, postings)
        return len(postings)

    def revert(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """Reverses what was posted for orphaned events."""
        return reverse_postings(connection, self.org_id, [stored.id for stored in events])

    def _postings(self, connection: Connection, stored: StoredEvent) -> Iterator[Posting]:
        event, args = stored.event, stored.event.args
        if event.name == "ContractProposed":
            self._parties[args["contractNo"]] = (args["partyA"], args["partyB"])
            return
        chart, me = self.chart, self.org_id

        def posting(kind: str, counterparty: int, debit: str, credit: str, memo: str) -> Posting:
            return Posting(
                kind=kind,
                event_id=stored.id,
                contract_no=contract_number_text(args["contractNo"]),
                seq=args["seq"],
                voucher_id=args["voucherId"],
                amount=args["amount"],
                counterparty=counterparty,
                debit=debit.format(org=counterparty),
                credit=credit.format(org=counterparty),
                memo=memo,
            )

        if event.name == "PaymentVoucherIssued":
            payer, payee = self._parties_of(connection, args["contractNo"])
            if payer == me:
                yield posting(FREEZE, payee, chart.frozen, chart.bank, "payment voucher issued, funds frozen (S5.4)")
        elif event.name == "PaymentReclaimed":
            payer, payee = self._parties_of(connection, args["contractNo"])
            if payer == me:
                yield posting(RECLAIM, payee, chart.bank, chart.frozen, "frozen funds returned (S6.4, S6.5)")
        elif event.name == "SecondVoucher":
            payer, payee, beneficiary = args["payerOrg"], args["payeeOrg"], args["beneficiaryOrg"]
            if payer == me:
                yield posting(PAYMENT, payee, chart.payable, chart.frozen, "second voucher: paid (S8.1)")
            if payee == me:
                if beneficiary == me:
                    yield posting(RECEIPT, payer, chart.bank, chart.receivable, "second voucher: received (S8.1)")
                else:
                    debit = chart.payable.format(org=beneficiary)
                    yield posting(RECEIPT, payer, debit, chart.receivable, f"paid to org {beneficiary} (S6.3)")
            if beneficiary == me and payee != me:
                yield posting(ASSIGNMENT, payee, chart.bank, chart.receivable, "assigned payment received (S6.3)")

    def _parties_of(self, connection: Connection, contract_no: bytes) -> tuple[int, int]:
        if contract_no not in self._parties:
            row = connection.execute(
                select(chain_events.c.args).where(
                    and_(
                        chain_events.c.event == "ContractProposed",
                        chain_events.c.orphaned.is_(False),
                        chain_events.c.args["contractNo"].as_string() == "0x" + contract_no.hex(),
                    )
                )
            ).first()
            if row is None:
                raise CollabError(f"no ContractProposed event for contract 0x{contract_no.hex()} in the database")
            self._parties[contract_no] = (row.args["partyA"], row.args["partyB"])
        return self._parties[contract_no]


def write_postings(connection: Connection, org_id: int, postings: Sequence[Posting]) -> None:
    """Inserts balanced entries (one debit and one credit line each) for ``org_id`` in bulk."""
    if not postings:
        return
    rows = [
        {
            "org_id": org_id,
            "kind": p.kind,
            "contract_no": p.contract_no,
            "seq": p.seq,
            "voucher_id": p.voucher_id,
            "amount": p.amount,
            "counterparty_org": p.counterparty,
            "event_id": p.event_id,
            "reverses_id": None,
            "memo": p.memo,
        }
        for p in postings
    ]
    # a plain executemany, then the ids read back by the unique key (as the listener stores its events)
    connection.execute(insert(journal_entries), rows)
    entries = journal_entries.c
    event_ids = [p.event_id for p in postings]
    ids = {
        (row.event_id, row.kind): row.id
        for row in connection.execute(
            select(entries.id, entries.event_id, entries.kind).where(
                and_(entries.org_id == org_id, entries.event_id.between(min(event_ids), max(event_ids)))
            )
        )
    }
    lines: list[dict[str, Any]] = []
    for p in postings:
        entry_id = ids[(p.event_id, p.kind)]
        lines.append({"entry_id": entry_id, "account": p.debit, "debit": p.amount, "credit": 0})
        lines.append({"entry_id": entry_id, "account": p.credit, "debit": 0, "credit": p.amount})
    connection.execute(insert(journal_lines), lines)


def reverse_postings(connection: Connection, org_id: int, event_ids: Sequence[int]) -> int:
    """Posts a reversal (lines swapped) of every entry of ``org_id`` caused by ``event_ids``; returns the count."""
    if not event_ids:
        return 0
    entries = connection.execute(
        select(journal_entries).where(
            and_(
                journal_entries.c.org_id == org_id,
                journal_entries.c.event_id.in_(event_ids),
                journal_entries.c.kind != REVERSAL,
            )
        )
    ).all()
    for entry in entries:
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
            .returning(journal_entries.c.id)
        ).scalar_one()
        lines = connection.execute(select(journal_lines).where(journal_lines.c.entry_id == entry.id)).all()
        connection.execute(
            insert(journal_lines),
            [
                {"entry_id": reversal, "account": line.account, "debit": line.credit, "credit": line.debit}
                for line in lines
            ],
        )
    return len(entries)
