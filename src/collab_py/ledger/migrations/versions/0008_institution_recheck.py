"""institution_actions: a deferred request's next check, kept with it, so that the bot's step reads only the
requests due (by an index), not every deferred row, and a restart keeps each one's backoff

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 06:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("institution_actions", sa.Column("recheck_at", sa.Float(), nullable=True))
    op.execute("UPDATE institution_actions SET recheck_at = 0 WHERE action = 'DEFERRED'")  # due at the next step
    op.drop_index(op.f("ix_institution_actions_action"), table_name="institution_actions")
    op.create_index("ix_institution_actions_due", "institution_actions", ["action", "recheck_at"])


def downgrade() -> None:
    op.drop_index("ix_institution_actions_due", table_name="institution_actions")
    op.create_index(op.f("ix_institution_actions_action"), "institution_actions", ["action"])
    with op.batch_alter_table("institution_actions") as table:
        table.drop_column("recheck_at")
