"""S8.3 on the listener engine: Party B invoices a payment once its receipt is posted, Party A verifies and records
the invoice or records why it rejected it."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from collab_py.devnet.flow import Flow
from collab_py.devnet.parties import Party
from collab_py.devnet.sandbox import sample_contract
from collab_py.domain.types import payment_voucher_id
from collab_py.ledger.database import open_database
from collab_py.ledger.schema import invoices, quarantine
from collab_py.listener.engine import Listener, ListenerConfig
from collab_py.listener.factory import ListenerSpec, Role, build_engine
from collab_py.listener.handlers.accounting import AccountingHandler
from collab_py.listener.handlers.invoicing import (
    ISSUED,
    PENDING,
    REJECTED,
    VERIFIED,
    InvoicingHandler,
    tax_included,
)
from support import World, bookkeeper, catch_up, forbid_sending, released

CONFIG = ListenerConfig(confirmations=0, poll_interval=0.01)


def listener(world: World, database: Engine, name: str, handler: AccountingHandler | InvoicingHandler) -> Listener:
    return Listener(world.w3, world.deployment, database, name, handler, CONFIG)


def invoicing(world: World, flow: Flow, database: Engine, party: Party) -> Listener:
    return listener(world, database, f"invoicing-{party.org_id}", InvoicingHandler(flow.finance(party)))


def recorded(database: Engine, org_id: int) -> list[tuple[int, str, str, str, int, int, str]]:
    columns = invoices.c
    with database.connect() as connection:
        rows = connection.execute(
            select(
                columns.org_id, columns.direction, columns.status, columns.invoice_no, columns.amount, columns.tax,
                columns.reason,
            ).where(columns.org_id == org_id).order_by(columns.id)
        ).all()  # fmt: skip
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_tax_included_in_an_amount() -> None:
    assert tax_included(113_00, Decimal("0.13")) == 13_00
    assert tax_included(100, Decimal("0.06")) == 6  # 5.66 rounds half up
    assert tax_included(100, Decimal(0)) == 0


def test_payee_invoices_after_its_receipt_and_payer_verifies(
    world: World, flow: Flow, ledger_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="collab.invoicing")
    draft = sample_contract("V-1")
    released(flow, world, draft)
    books = open_database(ledger_url)  # one group database here; each org's rows are its own
    b_invoicing = invoicing(world, flow, books, world.b)
    catch_up(b_invoicing)  # the receipt is not in B's books yet: the invoice waits, PENDING
    assert [status for _, _, status, *_ in recorded(books, world.b.org_id)] == [PENDING]
    catch_up(listener(world, books, "accounting-b", bookkeeper(world, world.b.org_id)))
    catch_up(b_invoicing)
    tax = tax_included(draft.total, Decimal("0.13"))
    assert recorded(books, world.b.org_id) == [(world.b.org_id, "OUT", ISSUED, "INV-V-1-1", draft.total, tax, "")]
    anchored = world.deployment.escrow.functions.invoiceOf(payment_voucher_id(draft.contract_no, 1)).call()
    assert anchored != b"\0" * 32

    catch_up(invoicing(world, flow, books, world.a))
    assert recorded(books, world.a.org_id) == [(world.a.org_id, "IN", VERIFIED, "INV-V-1-1", draft.total, tax, "")]
    assert [record.getMessage() for record in caplog.records] == [  # one line per invoice and step
        "the invoice of payment V-1/1 waits for its receipt to be posted (PENDING)",
        "issued invoice INV-V-1-1 of payment V-1/1: its receipt is posted now",
        "verified invoice INV-V-1-1 of payment V-1/1",
    ]
    with books.connect() as connection:
        document = connection.execute(
            select(invoices.c.document).where(invoices.c.org_id == world.a.org_id)
        ).scalar_one()
    assert (document["contract_no"], document["payee_org"]) == ("V-1", world.b.org_id)


def test_payer_records_a_rejected_invoice_with_the_reason(world: World, flow: Flow, ledger_url: str) -> None:
    draft = sample_contract("V-2")
    released(flow, world, draft)
    b = flow.finance(world.b)
    record = b.issue_invoice("V-2", 1, invoice_no="INV-BAD", tax=0)
    assert record.invoice_hash  # anchored; now A's books see an invoice it cannot verify: sealed to another key
    books = open_database(ledger_url)
    a = flow.finance(world.a)
    a.encryption_key = world.c.encryption_key  # Party A's service holds the wrong key: the document cannot be opened
    catch_up(listener(world, books, "invoicing-a", InvoicingHandler(a)))
    ((org, direction, status, _, amount, _, reason),) = recorded(books, world.a.org_id)
    assert (org, direction, status, amount) == (world.a.org_id, "IN", REJECTED, 0)
    assert reason.startswith("DecryptionError")


def test_an_invoice_anchored_before_the_listener_is_recorded_not_anchored_again(
    world: World, flow: Flow, ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    draft = sample_contract("V-4")
    released(flow, world, draft)
    b = flow.finance(world.b)
    anchored = b.issue_invoice("V-4", 1, invoice_no="INV-V-4-1", tax=0).invoice_hash  # a history the listener meets
    books = open_database(ledger_url)
    catch_up(listener(world, books, "accounting-b", bookkeeper(world, world.b.org_id)))
    forbid_sending(monkeypatch, b)
    catch_up(listener(world, books, "invoicing-b", InvoicingHandler(b)))
    with books.connect() as connection:
        found = connection.execute(
            select(invoices.c.status, invoices.c.invoice_hash).where(invoices.c.org_id == world.b.org_id)
        ).all()
    assert [tuple(row) for row in found] == [(ISSUED, anchored)]


def test_a_history_read_block_by_block_is_invoiced_without_a_transaction(
    world: World, flow: Flow, ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Catching up with a history, B's invoicing meets a second voucher before the store holds the block that
    anchored its invoice (the sync reads one block at a time here): it asks the escrow and records the invoice, and
    sends nothing (it once sent a transaction the escrow refused, at a fee, for every invoiced payment)."""
    draft = sample_contract("V-5")
    released(flow, world, draft)
    b = flow.finance(world.b)
    anchored = b.issue_invoice("V-5", 1, invoice_no="INV-V-5-1", tax=0).invoice_hash  # a block after the payment
    forbid_sending(monkeypatch, b)
    config = ListenerConfig(confirmations=0, poll_interval=0.01, chunk_blocks=1)
    engine = build_engine(
        [ListenerSpec(role, world.b.org_id, config=config) for role in (Role.accounting, Role.invoicing)],
        world.deployment,
        open_database(ledger_url),
        finance=lambda: b,
    )
    catch_up(engine)
    books = engine.sync.database
    with books.connect() as connection:
        found = connection.execute(
            select(invoices.c.status, invoices.c.invoice_hash).where(invoices.c.org_id == world.b.org_id)
        ).all()
        quarantined = connection.execute(select(quarantine.c.event_id)).all()
    assert [tuple(row) for row in found] == [(ISSUED, anchored)]
    assert quarantined == []
