"""Opening the org's platform database: the ledger's tables (the event store the projection reads) and the
platform's, each brought up to date by its own Alembic history (the platform's in ``web_alembic_version``), run on
the connection (never the URL, as for the ledger: see :mod:`collab_py.ledger.database`)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from collab_py.ledger.database import open_database, upgrade

MIGRATIONS = Path(__file__).with_name("migrations")


def open_platform_database(url: str) -> Engine:
    """The engine of ``url`` with the ledger's and the platform's migrations applied (idempotent)."""
    engine = open_database(url)
    upgrade(engine, MIGRATIONS)
    return engine
