"""E-invoicing on the listener engine (S8.3): Party B invoices each payment it received once its receipt is posted;
Party A verifies each invoice anchored for a payment it made and records it (or records why it rejected it).

Run as ``collab listen --role invoicing`` against the same ledger database as the org's accounting listener.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, insert, select

from collab_py.chain.errors import InvoiceAlreadyAnchored
from collab_py.domain.crypto import DecryptionError, PayloadBindingError
from collab_py.domain.einvoice import InvoiceError
from collab_py.domain.types import contract_number_text
from collab_py.exceptions import CollabError
from collab_py.ledger.schema import RECEIPT, journal_entries
from collab_py.ledger.schema import invoices as invoice_table
from collab_py.listener.engine import StoredEvent
from collab_py.services import FinanceService

log = logging.getLogger("collab.invoicing")

ISSUED, VERIFIED, REJECTED = "ISSUED", "VERIFIED", "REJECTED"
#: Tax included in invoiced amounts unless configured (13 %).
DEFAULT_TAX_RATE = Decimal("0.13")


class ReceiptNotPosted(CollabError):
    """The payee's receipt for this payment is not in its books yet: the invoice waits for it (retried)."""


def tax_included(amount: int, rate: Decimal) -> int:
    """The tax contained in a tax-inclusive ``amount`` at ``rate`` (0.13 for 13 %), rounded half up to a unit."""
    return int((Decimal(amount) * rate / (1 + rate)).quantize(Decimal(1), rounding="ROUND_HALF_UP"))


class InvoicingHandler:
    """Issues (as payee) and verifies (as payer) the e-invoices of org ``finance.org_id``."""

    events: tuple[str, ...] = ("SecondVoucher", "InvoiceAnchored")

    def __init__(self, finance: FinanceService, tax_rate: Decimal = DEFAULT_TAX_RATE) -> None:
        self.finance = finance
        self.tax_rate = tax_rate

    def apply(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """Invoices received payments and verifies anchored invoices; returns the invoices recorded."""
        rows = [row for stored in events if (row := self._handle(connection, stored)) is not None]
        if rows:
            connection.execute(insert(invoice_table), rows)
        return len(rows)

    def revert(self, connection: Connection, events: Sequence[StoredEvent]) -> int:
        """Nothing to compensate: an anchored invoice stays a fact; a payment mined again is invoiced once."""
        return 0

    def _handle(self, connection: Connection, stored: StoredEvent) -> dict[str, Any] | None:
        args, me = stored.event.args, self.finance.org_id
        seq = args["seq"]
        if stored.event.name == "SecondVoucher":
            return self._issue(connection, stored, seq) if args["payeeOrg"] == me else None
        if self.finance.reader.second_voucher_of(args["contractNo"], seq).payer_org != me:
            return None
        return self._receive(stored, seq)

    def _issue(self, connection: Connection, stored: StoredEvent, seq: int) -> dict[str, Any]:
        args = stored.event.args
        number = contract_number_text(args["contractNo"])
        posted = connection.execute(
            select(journal_entries.c.id).where(
                and_(
                    journal_entries.c.org_id == self.finance.org_id,
                    journal_entries.c.kind == RECEIPT,
                    journal_entries.c.voucher_id == args["voucherId"],
                )
            )
        ).first()
        if posted is None:
            raise ReceiptNotPosted(f"payment {seq} of {number!r} is not posted as a receipt yet")
        invoice_no, tax = f"INV-{number}-{seq}", tax_included(args["amount"], self.tax_rate)
        try:
            record = self.finance.issue_invoice(number, seq, invoice_no=invoice_no, tax=tax)
        except InvoiceAlreadyAnchored:  # anchored before a crash: record what the chain holds
            record = self.finance.reader.invoice(number, seq)
        return _row(
            stored, self.finance.org_id, "OUT", ISSUED, seq, invoice_no, record.invoice_hash, args["amount"], tax
        )

    def _receive(self, stored: StoredEvent, seq: int) -> dict[str, Any]:
        args = stored.event.args
        number = contract_number_text(args["contractNo"])
        try:
            invoice = self.finance.receive_invoice(number, seq)
        except (InvoiceError, DecryptionError, PayloadBindingError) as error:
            log.warning("rejected the invoice of payment %d of %s: %s", seq, number, error)
            row = _row(stored, self.finance.org_id, "IN", REJECTED, seq, "", args["invoiceHash"], 0, 0)
            return row | {"reason": f"{type(error).__name__}: {error}"}
        row = _row(
            stored, self.finance.org_id, "IN", VERIFIED, seq, invoice.invoice_no, invoice.invoice_hash,
            invoice.amount, invoice.tax,
        )  # fmt: skip
        return row | {"document": invoice.model_dump(mode="json")}


def _row(
    stored: StoredEvent,
    org_id: int,
    direction: str,
    status: str,
    seq: int,
    invoice_no: str,
    invoice_hash: bytes,
    amount: int,
    tax: int,
) -> dict[str, Any]:
    return {
        "org_id": org_id,
        "direction": direction,
        "status": status,
        "reason": "",
        "voucher_id": stored.event.args["voucherId"],
        "contract_no": contract_number_text(stored.event.args["contractNo"]),
        "seq": seq,
        "invoice_no": invoice_no,
        "invoice_hash": invoice_hash,
        "amount": amount,
        "tax": tax,
        "event_id": stored.id,
        "document": {},
    }
