"""Alembic environment: migrations run on the connection the caller passes (see ``collab_py.ledger.database``),
never on a URL from the configuration, where a percent-escaped password would be read as interpolation syntax."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from collab_py.ledger.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("the ledger's migrations run through collab_py.ledger.database.upgrade (no URL is configured)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    on_version_apply=context.config.attributes.get("on_version_apply", ()),
)
with context.begin_transaction():
    context.run_migrations()
