"""Alembic environment of the platform's tables: run on the engine the caller passes (``collab_py.web.database``),
with their own version table so that they share the org's ledger database."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from collab_py.web.schema import metadata

VERSION_TABLE = "web_alembic_version"

config = context.config
engine = config.attributes.get("engine") or create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Only the platform's tables (``web_*``): the ledger's have their own history."""
    return not (type_ == "table" and reflected and compare_to is None and not (name or "").startswith("web_"))


with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        version_table=VERSION_TABLE,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()
