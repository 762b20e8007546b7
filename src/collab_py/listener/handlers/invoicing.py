"""E-invoicing on the event store (S8.3): Party B invoices each payment it received once its receipt is posted;
Party A verifies each invoice anchored for a payment it made and records it (or records why it rejected it).

Run beside the org's accounting on the same ledger (``collab listen --role accounting --role invoicing``): the
engine steps accounting first, so the receipt is posted when invoicing sees the second voucher. If it is not (yet),
the invoice is recorded PENDING, logged once, and issued by a later step once the receipt is in the books; one that
cannot be issued then is recorded FAILED with the reason, and its second voucher quarantined for an operator. The
second voucher and the invoice come from the events in hand and the store, never from a scan of the chain.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update

from collab_py.chain.build import load_artifact
from collab_py.chain.errors import InvoiceAlreadyAnchored
from collab_py.chain.logs import EVENT_SOURCES, EventCodec
from collab_py.domain.crypto import DecryptionError, PayloadBindingError
from collab_py.domain.einvoice import InvoiceError
from collab_py.domain.types import contract_number_text
from collab_py.ledger import store
from collab_py.ledger.schema import RECEIPT, journal_entries
from collab_py.ledger.schema import invoices as invoice_table
from collab_py.listener.consumer import TRANSIENT, StoredEvent
from collab_py.services import FinanceService
from collab_py.services.reader import invoice_record, second_voucher

log = logging.getLogger("collab.invoicing")

ISSUED, VERIFIED, REJECTED, PENDING, FAILED = "ISSUED", "VERIFIED", "REJECTED", "PENDING", "FAILED"
#: Tax included in invoiced amounts unless configured (13 %).
DEFAULT_TAX_RATE = Decimal("0.13")
#: PENDING invoices looked at in one step.
PENDING_PER_STEP = 100
#: Longest invoice number (the e-invoice document's limit).
INVOICE_NO_LENGTH = 64


def tax_included(amount: int, rate: Decimal) -> int:
    """The tax contained in a tax-inclusive ``amount`` at ``rate`` (0.13 for 13 %), rounded half up to a unit."""
    return int((Decimal(amount) * rate / (1 + rate)).quantize(Decimal(1), rounding="ROUND_HALF_UP"))


def invoice_number(contract_no: str, seq: int, voucher_id: bytes) -> str:
    """``INV-<contract>-<seq>``; for a contract number too long for that (one shown as hex), the voucher id's
    first 20 bytes instead."""
    number = f"INV-{contract_no}-{seq}"
    return number if len(number) <= INVOICE_NO_LENGTH else f"INV-0x{voucher_id[:20].hex()}-{seq}"


class InvoicingHandler:
    """Issues (as payee) and verifies (as payer) the e-invoices of org ``finance.org_id``."""

    events: tuple[str, ...] = ("SecondVoucher", "InvoiceAnchored")

    def __init__(self, finance: FinanceService, tax_rate: Decimal = DEFAULT_TAX_RATE) -> None:
        self.finance = finance
        self.tax_rate = tax_rate
        self.codec = EventCodec([load_artifact(name).abi for name in EVENT_SOURCES])

    def apply(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """Invoices received payments (or records them PENDING) and verifies anchored invoices; returns the
        invoices recorded."""
        rows = [row for stored in events if (row := self._handle(connection, stored)) is not None]
        if rows:
            connection.execute(insert(invoice_table), rows)
        return len(rows)

    def revert(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """Nothing to compensate: an anchored invoice stays a fact; a payment mined again is invoiced once."""
        return 0

    def tick(self, connection: Connection) -> int:
        """Issues the PENDING invoices whose receipt is now posted; returns how many it issued."""
        columns = invoice_table.c
        waiting = connection.execute(
            select(columns.id, columns.event_id, columns.voucher_id)
            .where(and_(columns.org_id == self.finance.org_id, columns.direction == "OUT", columns.status == PENDING))
            .order_by(columns.id)
            .limit(PENDING_PER_STEP)
        ).all()
        ready = [row for row in waiting if self._receipt_posted(connection, bytes(row.voucher_id))]
        events = store.rows_by_id(connection, [int(row.event_id) for row in ready])
        issued = 0
        for row in ready:
            stored = StoredEvent(int(row.event_id), events[int(row.event_id)].chain_event(self.codec))
            try:
                invoice_hash = self._anchor(stored)
            except TRANSIENT:
                raise
            except Exception as error:
                reason = f"{type(error).__name__}: {error}"
                connection.execute(
                    update(invoice_table).where(columns.id == row.id).values(status=FAILED, reason=reason)
                )
                store.quarantine_event(connection, f"invoicing-{self.finance.org_id}", stored.id, error)
                log.error("could not issue the invoice of payment %s: %s", _name(stored), reason)
                continue
            connection.execute(
                update(invoice_table)
                .where(columns.id == row.id)
                .values(status=ISSUED, reason="", invoice_hash=invoice_hash)
            )
            log.info("issued the invoice of payment %s: its receipt is posted now", _name(stored))
            issued += 1
        return issued

    # ------------------------------------------------------------------ one event
    def _handle(self, connection: Connection, stored: StoredEvent) -> dict[str, Any] | None:
        args, me = stored.event.args, self.finance.org_id
        if stored.event.name == "SecondVoucher":
            return self._issue(connection, stored) if args["payeeOrg"] == me else None
        paid = store.find_events(connection, ["SecondVoucher"], voucher_ids=[args["voucherId"]])
        if not paid or paid[-1].args["payerOrg"] != me:
            return None
        return self._receive(stored, paid[-1])

    def _issue(self, connection: Connection, stored: StoredEvent) -> dict[str, Any] | None:
        args = stored.event.args
        columns = invoice_table.c
        existing = connection.execute(
            select(columns.id, columns.status).where(
                and_(
                    columns.org_id == self.finance.org_id,
                    columns.direction == "OUT",
                    columns.voucher_id == args["voucherId"],
                )
            )
        ).first()
        if existing is not None and existing.status in (ISSUED, PENDING):
            return None  # already issued, or waiting for its receipt
        number = contract_number_text(args["contractNo"])
        invoice_no = invoice_number(number, args["seq"], args["voucherId"])
        tax = tax_included(args["amount"], self.tax_rate)
        if not self._receipt_posted(connection, args["voucherId"]):
            log.info("the invoice of payment %s waits for its receipt to be posted (PENDING)", _name(stored))
            row = _row(stored, self.finance.org_id, "OUT", PENDING, invoice_no, None, args["amount"], tax)
            return row | {"reason": "waiting for the receipt to be posted"}
        invoice_hash = self._anchor(stored)
        if existing is not None:  # FAILED before, issued on a retry
            connection.execute(
                update(invoice_table)
                .where(columns.id == existing.id)
                .values(status=ISSUED, reason="", invoice_hash=invoice_hash)
            )
            return None
        return _row(stored, self.finance.org_id, "OUT", ISSUED, invoice_no, invoice_hash, args["amount"], tax)

    def _anchor(self, stored: StoredEvent) -> bytes:
        """Issues and anchors the invoice of the second voucher in hand; returns its hash."""
        args = stored.event.args
        number = contract_number_text(args["contractNo"])
        invoice_no = invoice_number(number, args["seq"], args["voucherId"])
        tax = tax_included(args["amount"], self.tax_rate)
        try:
            record = self.finance.issue_invoice(
                args["contractNo"], args["seq"], invoice_no=invoice_no, tax=tax, second=second_voucher(stored.event)
            )
        except InvoiceAlreadyAnchored as anchored:  # anchored before a crash: record what the chain holds
            return bytes(anchored.args_by_name["invoiceHash"])
        return record.invoice_hash

    def _receive(self, stored: StoredEvent, paid: store.LogRow) -> dict[str, Any]:
        args = stored.event.args
        seq = args["seq"]
        try:
            invoice = self.finance.receive_invoice(
                args["contractNo"],
                seq,
                record=invoice_record(stored.event),
                second=second_voucher(paid.chain_event(self.codec)),
            )
        except (InvoiceError, DecryptionError, PayloadBindingError) as error:
            log.warning("rejected the invoice of payment %s: %s", _name(stored), error)
            row = _row(stored, self.finance.org_id, "IN", REJECTED, "", args["invoiceHash"], 0, 0)
            return row | {"reason": f"{type(error).__name__}: {error}"}
        row = _row(
            stored, self.finance.org_id, "IN", VERIFIED, invoice.invoice_no, invoice.invoice_hash, invoice.amount,
            invoice.tax,
        )  # fmt: skip
        return row | {"document": invoice.model_dump(mode="json")}

    def _receipt_posted(self, connection: Connection, voucher_id: bytes) -> bool:
        entries = journal_entries.c
        return (
            connection.execute(
                select(entries.id).where(
                    and_(
                        entries.org_id == self.finance.org_id,
                        entries.kind == RECEIPT,
                        entries.voucher_id == voucher_id,
                    )
                )
            ).first()
            is not None
        )


def _name(stored: StoredEvent) -> str:
    args = stored.event.args
    return f"{contract_number_text(args['contractNo'])}/{args['seq']}"


def _row(
    stored: StoredEvent,
    org_id: int,
    direction: str,
    status: str,
    invoice_no: str,
    invoice_hash: bytes | None,
    amount: int,
    tax: int,
) -> dict[str, Any]:
    args = stored.event.args
    return {
        "org_id": org_id,
        "direction": direction,
        "status": status,
        "reason": "",
        "voucher_id": args["voucherId"],
        "contract_no": contract_number_text(args["contractNo"]),
        "seq": args["seq"],
        "invoice_no": invoice_no,
        "invoice_hash": invoice_hash,
        "amount": amount,
        "tax": tax,
        "event_id": stored.id,
        "document": {},
    }
