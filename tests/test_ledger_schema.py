"""The ledger's Alembic migrations build exactly the tables of ``collab_py.ledger.schema`` (SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from collab_py.ledger.database import open_database
from collab_py.ledger.schema import metadata


def test_migrations_build_the_schema(ledger_url: str) -> None:
    database = open_database(ledger_url)
    with database.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
