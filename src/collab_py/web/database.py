"""Opening the org's platform database: the ledger's tables (the event store the projection reads) and the
platform's, each brought up to date by its own Alembic history (the platform's in ``web_alembic_version``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from collab_py.exceptions import CollabError
from collab_py.ledger.database import DatabaseError, open_database

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "web_alembic_version"


def alembic_config(engine: Engine | None = None) -> Config:
    """Alembic's configuration for the platform's migrations (bound to ``engine`` when given)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
        config.attributes["engine"] = engine
    return config


def open_platform_database(url: str) -> Engine:
    """The engine of ``url`` with the ledger's and the platform's migrations applied (idempotent)."""
    engine = open_database(url)
    try:
        command.upgrade(alembic_config(engine), "head")
    except CollabError:
        raise
    except Exception as error:
        raise DatabaseError(
            f"cannot migrate the platform tables of {engine.url.render_as_string()}: {type(error).__name__}: {error}"
        ) from None
    return engine
