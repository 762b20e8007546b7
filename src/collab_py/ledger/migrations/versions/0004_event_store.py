"""event store: chain_log, chain_blocks, sync_state, consumer_cursors, quarantine replace each listener's own
chain_events, checkpoints and block_window; journal entries, decisions and invoices reference chain_log

One sync per ledger database now reads our contracts' logs once into ``chain_log``; each consumer keeps only its
cursor (the last ``chain_log.id`` it processed). Contract numbers are kept as text of up to 66 characters (a number
that is not UTF-8 is shown as ``0x`` hex), the bot's decisions count their attempts (DEFERRED ones are checked
again) and an invoice waiting for its receipt (PENDING) has no hash yet.

A ledger that the previous engine already wrote to is refused: its events were read from a deployment of the
contracts before v2 (other addresses, other events), whose books cannot continue in the store of a v2 deployment.
Keep such a database as the archive of those books and give the services a new one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import collab_py.ledger.schema

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: 64-bit row ids, SQLite's rowid there.
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
#: Tables of the previous engine, and the tables whose rows reference its events.
OLD = ("journal_lines", "journal_entries", "institution_actions", "invoices", "chain_events", "checkpoints")


class LedgerInUse(RuntimeError):
    """The ledger holds books of the previous engine: start a new database for the store."""


def upgrade() -> None:
    connection = op.get_bind()
    used = {
        table: count
        for table in OLD
        if (count := connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    }
    if used:
        rows = ", ".join(f"{table} {count}" for table, count in used.items())
        raise LedgerInUse(
            f"this ledger holds the books of the listener engine before the event store ({rows} rows), read from a "
            "deployment of the contracts before v2: keep it as their archive and point COLLAB_LEDGER_URL at a new "
            "database"
        )
    for table in ("journal_lines", "journal_entries", "institution_actions", "invoices"):
        op.drop_table(table)
    for table in ("chain_events", "checkpoints", "block_window"):
        op.drop_table(table)
    _create_store()
    _create_books()


def _create_store() -> None:
    op.create_table(
        "chain_log",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("tx_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("log_index", sa.Integer(), nullable=True),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("contract_no", sa.LargeBinary(length=32), nullable=True),
        sa.Column("voucher_id", sa.LargeBinary(length=32), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("orphaned", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_log")),
    )
    op.create_index(
        "uq_chain_log_log",
        "chain_log",
        ["chain_id", "block_number", "log_index", "block_hash"],
        unique=True,
        sqlite_where=sa.text("orphaned = 0"),
        postgresql_where=sa.text("NOT orphaned"),
    )
    op.create_index("ix_chain_log_voucher_event", "chain_log", ["voucher_id", "event"])
    op.create_index("ix_chain_log_contract_event", "chain_log", ["contract_no", "event"])
    op.create_table(
        "chain_blocks",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "block_number", name=op.f("pk_chain_blocks")),
    )
    op.create_table(
        "sync_state",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
        sa.PrimaryKeyConstraint("chain_id", name=op.f("pk_sync_state")),
    )
    op.create_table(
        "consumer_cursors",
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
        sa.PrimaryKeyConstraint("consumer", name=op.f("pk_consumer_cursors")),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("event_id", ROW_ID, nullable=False),
        sa.Column("error_type", sa.String(length=128), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("retry", sa.Boolean(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
        sa.Column("last_seen", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["chain_log.id"], name=op.f("fk_quarantine_event_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
        sa.UniqueConstraint("consumer", "event_id", name="uq_quarantine_consumer_event"),
    )


def _create_books() -> None:
    amount = collab_py.ledger.schema.Amount(length=40)
    op.create_table(
        "journal_entries",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("contract_no", sa.String(length=66), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("voucher_id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("amount", amount, nullable=False),
        sa.Column("counterparty_org", sa.BigInteger(), nullable=False),
        sa.Column("event_id", ROW_ID, nullable=False),
        sa.Column("reverses_id", ROW_ID, nullable=True),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["chain_log.id"], name=op.f("fk_journal_entries_event_id")),
        sa.ForeignKeyConstraint(["reverses_id"], ["journal_entries.id"], name=op.f("fk_journal_entries_reverses_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entries")),
        sa.UniqueConstraint("org_id", "event_id", "kind", name="uq_journal_entries_posting"),
    )
    op.create_index(op.f("ix_journal_entries_contract_no"), "journal_entries", ["contract_no"])
    op.create_table(
        "journal_lines",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("entry_id", ROW_ID, nullable=False),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("debit", amount, nullable=False),
        sa.Column("credit", amount, nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entries.id"], name=op.f("fk_journal_lines_entry_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_lines")),
    )
    op.create_index(op.f("ix_journal_lines_entry_id"), "journal_lines", ["entry_id"])
    op.create_table(
        "institution_actions",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("event_id", ROW_ID, nullable=False),
        sa.Column("voucher_id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("contract_no", sa.String(length=66), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("tx_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["chain_log.id"], name=op.f("fk_institution_actions_event_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_institution_actions")),
        sa.UniqueConstraint("event_id", name=op.f("uq_institution_actions_event_id")),
    )
    op.create_index(op.f("ix_institution_actions_voucher_id"), "institution_actions", ["voucher_id"])
    op.create_index(op.f("ix_institution_actions_action"), "institution_actions", ["action"])
    op.create_table(
        "invoices",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="VERIFIED", nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("voucher_id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("contract_no", sa.String(length=66), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("invoice_no", sa.String(length=64), nullable=False),
        sa.Column("invoice_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("amount", amount, nullable=False),
        sa.Column("tax", amount, nullable=False),
        sa.Column("event_id", ROW_ID, nullable=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["chain_log.id"], name=op.f("fk_invoices_event_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("org_id", "direction", "voucher_id", name="uq_invoices_payment"),
    )
    op.create_index("ix_invoices_status", "invoices", ["status"])


def downgrade() -> None:
    """Back to the previous engine's tables, for a ledger the store has not written to yet."""
    connection = op.get_bind()
    for table in ("chain_log", "journal_entries", "institution_actions", "invoices"):
        if connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one():
            raise LedgerInUse(f"the store holds rows ({table}): a downgrade would lose them")
    for table in ("journal_lines", "journal_entries", "institution_actions", "invoices", "quarantine"):
        op.drop_table(table)
    for table in ("consumer_cursors", "sync_state", "chain_blocks", "chain_log"):
        op.drop_table(table)
    _create_previous()


def _create_previous() -> None:
    """The tables as revisions 0001-0003 left them."""
    amount = collab_py.ledger.schema.Amount(length=40)
    op.create_table(
        "block_window",
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "block_number", name=op.f("pk_block_window")),
    )
    op.create_table(
        "chain_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("voucher_id", sa.LargeBinary(length=32), nullable=True),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("orphaned", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_events")),
        sa.UniqueConstraint("consumer", "chain_id", "tx_hash", "log_index", "block_hash", name="uq_chain_events_log"),
    )
    op.create_index(op.f("ix_chain_events_block_number"), "chain_events", ["block_number"])
    op.create_index(op.f("ix_chain_events_voucher_id"), "chain_events", ["voucher_id"])
    op.create_index("ix_chain_events_consumer_block", "chain_events", ["consumer", "block_number"])
    op.create_table(
        "checkpoints",
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
        sa.PrimaryKeyConstraint("consumer", name=op.f("pk_checkpoints")),
    )
    op.create_table(
        "institution_actions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("voucher_id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("contract_no", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("tx_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["chain_events.id"], name=op.f("fk_institution_actions_event_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_institution_actions")),
        sa.UniqueConstraint("event_id", name=op.f("uq_institution_actions_event_id")),
    )
    op.create_index(op.f("ix_institution_actions_voucher_id"), "institution_actions", ["voucher_id"])
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("voucher_id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("contract_no", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("invoice_no", sa.String(length=64), nullable=False),
        sa.Column("invoice_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("amount", amount, nullable=False),
        sa.Column("tax", amount, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="VERIFIED", nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["chain_events.id"], name=op.f("fk_invoices_event_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("org_id", "direction", "voucher_id", name="uq_invoices_payment"),
    )
    op.create_table(
        "journal_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("contract_no", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("voucher_id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("amount", amount, nullable=False),
        sa.Column("counterparty_org", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["chain_events.id"], name=op.f("fk_journal_entries_event_id")),
        sa.ForeignKeyConstraint(["reverses_id"], ["journal_entries.id"], name=op.f("fk_journal_entries_reverses_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entries")),
        sa.UniqueConstraint("org_id", "event_id", "kind", name="uq_journal_entries_posting"),
    )
    op.create_index(op.f("ix_journal_entries_contract_no"), "journal_entries", ["contract_no"])
    op.create_index(op.f("ix_journal_entries_org_id"), "journal_entries", ["org_id"])
    op.create_table(
        "journal_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("debit", amount, nullable=False),
        sa.Column("credit", amount, nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entries.id"], name=op.f("fk_journal_lines_entry_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_lines")),
    )
    op.create_index(op.f("ix_journal_lines_entry_id"), "journal_lines", ["entry_id"])
