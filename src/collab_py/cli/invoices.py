"""``collab invoices``: the e-invoices in this org's ledger, issued by the payee or verified by the payer (S8.3)."""

from __future__ import annotations

from collab_py.cli.context import amount, readable_errors, show, state, token_decimals
from collab_py.ledger.database import open_database
from collab_py.ledger.queries import invoice_rows


@readable_errors
def invoices() -> None:
    """Lists the e-invoices the org's invoicing listener recorded (COLLAB_LEDGER_URL), amounts in currency units."""
    decimals = token_decimals()
    rows = invoice_rows(open_database(state.settings.ledger_url))
    show([row | {"amount": amount(row["amount"], decimals), "tax": amount(row["tax"], decimals)} for row in rows])
