"""journal integrity: entries hash-chained per org (prev_hash, entry_hash), entries and lines append-only
(triggers refuse UPDATE and DELETE), and on PostgreSQL the services' role ``collab_service`` without UPDATE and
DELETE on them

Entries already posted are chained as they stand, in id order: the books are sealed from this migration on (check
them with ``collab ledger verify`` before upgrading if they may have been edited).

``collab_service`` is created when the migrating role may create roles, and granted what the services need on
this schema (by default also on the tables later migrations create): on the journal only SELECT and INSERT. Where
the migrating role may not create roles, a DBA creates and grants it as SECURITY.md shows. The services log in as a
member of it (``GRANT collab_service TO collab_app``), not as the tables' owner, who could disable the triggers.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collab_py.ledger.integrity import stored_entries
from collab_py.ledger.journal import GENESIS, entry_digest
from collab_py.ledger.schema import journal_entries

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JOURNAL = ("journal_entries", "journal_lines")
#: What refuses a change of the journal: the message of both databases' triggers.
REFUSAL = "is append-only: correct an entry with a reversal entry"
SERVICE_ROLE = "collab_service"


def upgrade() -> None:
    connection = op.get_bind()
    postgres = connection.dialect.name == "postgresql"
    for column in ("prev_hash", "entry_hash"):
        # SQLite adds a NOT NULL column only with a default (kept; no insert relies on it); PostgreSQL sets NOT NULL
        # once the entries are sealed
        default = None if postgres else sa.text(f"X'{GENESIS.hex()}'")
        op.add_column(
            "journal_entries", sa.Column(column, sa.LargeBinary(32), nullable=postgres, server_default=default)
        )
    _seal(connection)
    if postgres:
        for column in ("prev_hash", "entry_hash"):
            op.alter_column("journal_entries", column, nullable=False)
    op.create_index("ix_journal_entries_org_chain", "journal_entries", ["org_id", "id"])
    if postgres:
        _postgres_append_only()
    else:
        for table in JOURNAL:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} {REFUSAL}'); END"
                )


def _seal(connection: sa.Connection) -> None:
    """Chains the entries already posted, per org in id order."""
    heads: dict[int, bytes] = {}
    sealed = []
    for entry in list(stored_entries(connection)):
        previous = heads.get(entry.sealed.org_id, GENESIS)
        digest = entry_digest(previous, entry.sealed)
        sealed.append({"entry": entry.id, "prev": previous, "hash": digest})
        heads[entry.sealed.org_id] = digest
    if sealed:
        entries = journal_entries.c
        connection.execute(
            sa.update(journal_entries)
            .where(entries.id == sa.bindparam("entry"))
            .values(prev_hash=sa.bindparam("prev"), entry_hash=sa.bindparam("hash")),
            sealed,
        )


def _postgres_append_only() -> None:
    op.execute(
        f"""CREATE FUNCTION journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% {REFUSAL}', TG_TABLE_NAME;
        END $$"""
    )
    for table in JOURNAL:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION journal_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION journal_append_only()"
        )
    op.execute(
        f"""DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{SERVICE_ROLE}') THEN
                BEGIN
                    CREATE ROLE {SERVICE_ROLE} NOLOGIN;
                EXCEPTION
                    WHEN duplicate_object OR unique_violation THEN NULL;
                    WHEN insufficient_privilege THEN
                        RAISE NOTICE 'cannot create role {SERVICE_ROLE}: a DBA creates it, then migrate again';
                        RETURN;
                END;
            END IF;
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO {SERVICE_ROLE}', current_schema());
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO {SERVICE_ROLE}',
                           current_schema());
            EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO {SERVICE_ROLE}', current_schema());
            -- tables and sequences that later migrations create, likewise
            EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES '
                           'TO {SERVICE_ROLE}', current_schema());
            EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO {SERVICE_ROLE}',
                           current_schema());
            REVOKE UPDATE, DELETE, TRUNCATE ON {", ".join(JOURNAL)} FROM {SERVICE_ROLE};
        END $$"""
    )


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        for table in JOURNAL:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION journal_append_only()")
    else:
        for table in JOURNAL:
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER {table}_no_{action}")
    op.drop_index("ix_journal_entries_org_chain", table_name="journal_entries")
    op.drop_column("journal_entries", "entry_hash")
    op.drop_column("journal_entries", "prev_hash")
