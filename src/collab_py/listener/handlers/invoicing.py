"""E-invoicing on the event store (S8.3): Party B invoices each payment it received once its receipt is posted;
Party A verifies each invoice anchored for a payment it made and records it (or records why it rejected it).

Run beside the org's accounting on the same ledger (``collab listen --role accounting --role invoicing``): the
engine steps accounting first, so the receipt is posted when invoicing sees the second voucher. If it is not (yet),
the invoice is recorded PENDING, logged once, and issued by a later step once the receipt is in the books; one that
cannot be issued then is recorded FAILED with the reason, and its second voucher quarantined for an operator. The
second voucher and the invoice come from the events in hand and the store, never from a scan of the chain; before it
sends an invoice, one key read of the escrow makes sure that none is anchored (a history caught up with: the store may
not hold the anchoring block yet).
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
from collab_py.exceptions import CollabError
from collab_py.ledger import store
from collab_py.ledger.schema import RECEIPT, journal_entries
from collab_py.ledger.schema import invoices as invoice_table
from collab_py.listener.consumer import TRANSIENT, StoredEvent
from collab_py.services import FinanceService, PreparedStep
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
    #: Most events in one batch: each may send a transaction, and the batch's transaction lasts until they are mined.
    batch = 50

    def __init__(self, finance: FinanceService, tax_rate: Decimal = DEFAULT_TAX_RATE) -> None:
        self.finance = finance
        self.tax_rate = tax_rate
        self.codec = EventCodec([load_artifact(name).abi for name in EVENT_SOURCES])

    def apply(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """Invoices received payments (their anchoring transactions pipelined; PENDING while a receipt is not
        posted) and verifies anchored invoices; returns the invoices recorded."""
        rows: list[dict[str, Any]] = []
        to_issue: list[tuple[StoredEvent, int | None]] = []  # and the id of a FAILED row to issue again
        updated = 0
        anchored = self._anchored_in_store(connection, events)
        for stored in events:
            if stored.event.name == "SecondVoucher":
                if stored.event.args["payeeOrg"] == self.finance.org_id:
                    updated += self._sort(connection, stored, anchored, rows, to_issue)
            elif (row := self._verify(connection, stored)) is not None:
                rows.append(row)
        columns = invoice_table.c
        for (stored, failed), result in zip(to_issue, self._anchor([stored for stored, _ in to_issue]), strict=True):
            if isinstance(result, Exception):
                raise result  # the consumer handles the batch again event by event and quarantines this one
            if failed is not None:
                connection.execute(
                    update(invoice_table)
                    .where(columns.id == failed)
                    .values(status=ISSUED, reason="", invoice_hash=result)
                )
            else:
                rows.append(self._row(stored, ISSUED, result))
            log.info("issued invoice %s of payment %s", self._terms(stored)[0], _name(stored))
        if rows:
            connection.execute(insert(invoice_table), rows)
        return len(rows) + updated + sum(1 for _, failed in to_issue if failed is not None)

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
        stored = [StoredEvent(int(row.event_id), events[int(row.event_id)].chain_event(self.codec)) for row in ready]
        issued = 0
        for row, event, result in zip(ready, stored, self._anchor(stored), strict=True):
            if isinstance(result, Exception):
                reason = f"{type(result).__name__}: {result}"
                connection.execute(
                    update(invoice_table).where(columns.id == row.id).values(status=FAILED, reason=reason)
                )
                store.quarantine_event(connection, f"invoicing-{self.finance.org_id}", event.id, result)
                log.error("could not issue the invoice of payment %s: %s", _name(event), reason)
                continue
            connection.execute(
                update(invoice_table).where(columns.id == row.id).values(status=ISSUED, reason="", invoice_hash=result)
            )
            log.info("issued invoice %s of payment %s: its receipt is posted now", self._terms(event)[0], _name(event))
            issued += 1
        return issued

    # ------------------------------------------------------------------ issuing (Party B)
    def _sort(
        self,
        connection: Connection,
        stored: StoredEvent,
        anchored: dict[bytes, bytes],
        rows: list[dict[str, Any]],
        to_issue: list[tuple[StoredEvent, int | None]],
    ) -> int:
        """A second voucher that pays this org: issue its invoice now, or record it PENDING, or nothing (done);
        ``anchored`` holds the invoices the store shows anchored already, by voucher. Returns the rows it updated."""
        columns = invoice_table.c
        voucher_id = stored.event.args["voucherId"]
        existing = connection.execute(
            select(columns.id, columns.status).where(
                and_(
                    columns.org_id == self.finance.org_id,
                    columns.direction == "OUT",
                    columns.voucher_id == voucher_id,
                )
            )
        ).first()
        if existing is not None and existing.status in (ISSUED, PENDING):
            return 0  # already issued, or waiting for its receipt
        invoice_hash = anchored.get(voucher_id)
        if invoice_hash is not None and existing is None:  # anchored before (a history caught up with): record it
            rows.append(self._row(stored, ISSUED, invoice_hash))
            return 0
        if self._receipt_posted(connection, voucher_id):
            # Catching up with a history, the store may not hold the anchoring block yet: ask the escrow (one key
            # read) rather than send a transaction that it refuses, at a fee, once for every invoiced payment.
            invoice_hash = self.finance.reader.anchored_invoice(voucher_id)
            if invoice_hash is None:
                to_issue.append((stored, None if existing is None else int(existing.id)))
            elif existing is None:
                rows.append(self._row(stored, ISSUED, invoice_hash))
            else:  # a FAILED attempt whose invoice the chain holds after all
                connection.execute(
                    update(invoice_table)
                    .where(columns.id == existing.id)
                    .values(status=ISSUED, reason="", invoice_hash=invoice_hash)
                )
                return 1
            return 0
        log.info("the invoice of payment %s waits for its receipt to be posted (PENDING)", _name(stored))
        rows.append(self._row(stored, PENDING, None) | {"reason": "waiting for the receipt to be posted"})
        return 0

    def _anchored_in_store(self, connection: Connection, events: Sequence[StoredEvent]) -> dict[bytes, bytes]:
        """The invoices the store shows anchored for this org's second vouchers among ``events``: hash by voucher."""
        mine = [
            stored.event.args["voucherId"]
            for stored in events
            if stored.event.name == "SecondVoucher" and stored.event.args["payeeOrg"] == self.finance.org_id
        ]
        found = store.find_events(connection, ["InvoiceAnchored"], voucher_ids=mine) if mine else []
        return {bytes.fromhex(row.args["voucherId"][2:]): bytes.fromhex(row.args["invoiceHash"][2:]) for row in found}

    def _anchor(self, events: Sequence[StoredEvent]) -> list[bytes | Exception]:
        """Issues and anchors the invoices of the second vouchers in hand, their transactions pipelined; each
        result is the invoice's hash (the chain's, when it was anchored before a crash) or the error."""
        prepared: list[PreparedStep | Exception] = []
        for stored in events:
            args = stored.event.args
            invoice_no, tax = self._terms(stored)
            try:
                step, _ = self.finance.prepare_invoice(
                    args["contractNo"], args["seq"], invoice_no=invoice_no, tax=tax, second=second_voucher(stored.event)
                )
            except TRANSIENT:
                raise
            except Exception as error:
                prepared.append(error)
                continue
            prepared.append(step)
        steps = [made for made in prepared if not isinstance(made, Exception)]
        outcomes = iter(self.finance.execute_each(steps))
        results: list[bytes | Exception] = []
        for stored, made in zip(events, prepared, strict=True):
            if isinstance(made, Exception):
                results.append(made)
                continue
            outcome = next(outcomes)
            if outcome.receipt is not None:
                results.append(
                    self.finance.reader.invoice_in(outcome.receipt, stored.event.args["voucherId"]).invoice_hash
                )
            elif isinstance(outcome.error, InvoiceAlreadyAnchored):  # anchored before a crash: what the chain holds
                results.append(bytes(outcome.error.args_by_name["invoiceHash"]))
            elif isinstance(outcome.error, TRANSIENT):
                raise outcome.error
            else:
                results.append(outcome.error or CollabError("the invoice was not anchored"))
        return results

    def _terms(self, stored: StoredEvent) -> tuple[str, int]:
        """The invoice number and the tax of the second voucher in hand."""
        args = stored.event.args
        number = contract_number_text(args["contractNo"])
        return invoice_number(number, args["seq"], args["voucherId"]), tax_included(args["amount"], self.tax_rate)

    def _row(self, stored: StoredEvent, status: str, invoice_hash: bytes | None) -> dict[str, Any]:
        invoice_no, tax = self._terms(stored)
        return _row(
            stored, self.finance.org_id, "OUT", status, invoice_no, invoice_hash, stored.event.args["amount"], tax
        )

    # ------------------------------------------------------------------ verifying (Party A)
    def _verify(self, connection: Connection, stored: StoredEvent) -> dict[str, Any] | None:
        """An invoice anchored for a payment this org made: verified or rejected (None: not this org's)."""
        paid = store.find_events(connection, ["SecondVoucher"], voucher_ids=[stored.event.args["voucherId"]])
        if not paid or paid[-1].args["payerOrg"] != self.finance.org_id:
            return None
        return self._receive(stored, paid[-1])

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
        log.info("verified invoice %s of payment %s", invoice.invoice_no, _name(stored))
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
