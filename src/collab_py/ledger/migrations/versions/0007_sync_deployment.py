"""sync_state: the deployment (registry and escrow addresses) the ledger's sync follows, so that a ledger is never
read on with another deployment's manifest

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sync_state", sa.Column("registry", sa.LargeBinary(length=20), nullable=True))
    op.add_column("sync_state", sa.Column("escrow", sa.LargeBinary(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_state") as table:
        table.drop_column("escrow")
        table.drop_column("registry")
