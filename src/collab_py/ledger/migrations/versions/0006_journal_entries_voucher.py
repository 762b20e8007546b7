"""journal_entries: index on (voucher_id, org_id, kind), a payment's postings found without a scan of the books

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 02:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_journal_entries_voucher", "journal_entries", ["voucher_id", "org_id", "kind"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_journal_entries_voucher", table_name="journal_entries")
