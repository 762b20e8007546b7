"""Alembic environment of the platform's tables: run on the connection the caller passes
(``collab_py.web.database``, never a URL), with their own version table so that they share the org's ledger database."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from collab_py.web.schema import metadata

VERSION_TABLE = "web_alembic_version"


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Only the platform's tables (``web_*``): the ledger's have their own history."""
    return not (type_ == "table" and reflected and compare_to is None and not (name or "").startswith("web_"))


connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("the platform's migrations run through collab_py.web.database (no URL is configured)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    version_table=VERSION_TABLE,
    include_object=include_object,
    on_version_apply=context.config.attributes.get("on_version_apply", ()),
)
with context.begin_transaction():
    context.run_migrations()
