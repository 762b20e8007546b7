"""chain_events: index on (consumer, block_number), the range every listener step reads

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 15:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_chain_events_consumer_block", "chain_events", ["consumer", "block_number"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_chain_events_consumer_block", table_name="chain_events")
