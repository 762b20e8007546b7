"""Opening the listeners' database and bringing its schema up to date with the Alembic migrations.

SQLite (the embedded default) runs in WAL mode with a busy timeout, so a reader never blocks the writer and a
briefly locked database is waited for. SQLAlchemy, not the sqlite3 module, begins its transactions (the recipe of
SQLAlchemy's SQLite dialect documentation), so that savepoints work and a writer can take the write lock when it
begins (:func:`writer`: ``BEGIN IMMEDIATE``) instead of failing to upgrade a read lock another writer overtook.
PostgreSQL is the production target (``postgresql+psycopg://...``).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from collab_py.exceptions import CollabError

MIGRATIONS = Path(__file__).with_name("migrations")
#: How long SQLite waits for a lock held by another connection.
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: SQLite's page cache per connection (KiB).
SQLITE_CACHE_KIB = 65_536


class DatabaseError(CollabError):
    """The ledger database URL is invalid or the database cannot be reached."""


def open_database(url: str, *, migrate: bool = True) -> Engine:
    """An engine for ``url`` (``sqlite:///file.db``, ``postgresql+psycopg://user@host/db``), migrated to head.
    ``sqlite://`` (in memory) is a private file removed at exit, so that threads share it as they share a file."""
    try:
        parsed = make_url(url)
    except Exception:
        raise DatabaseError(f"invalid database URL {url!r}") from None
    options: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        if parsed.database in (None, "", ":memory:"):  # a private file instead: one database for every thread,
            parsed = parsed.set(database=_scratch_file())  # each with its own connection and transactions
    else:
        options["pool_pre_ping"] = True
    engine = create_engine(parsed, **options)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    if migrate:
        upgrade(engine)
    return engine


def _scratch_file() -> str:
    """A file for an "in-memory" SQLite database, removed when the process exits."""
    folder = tempfile.mkdtemp(prefix="collab-ledger-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return str(Path(folder) / "ledger.db")


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    connection.isolation_level = None  # the driver begins nothing itself: _sqlite_begin does
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")  # the store's indexes stay in memory during a backfill
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get("sqlite_immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def writer(database: Engine) -> Engine:
    """``database`` for transactions that write: on SQLite they take the write lock when they begin (waiting up to
    the busy timeout for another writer), on PostgreSQL nothing changes."""
    if database.dialect.name != "sqlite":
        return database
    return database.execution_options(sqlite_immediate=True)


def alembic_config(engine: Engine | None = None) -> Config:
    """Alembic's configuration for the package's migrations (bound to ``engine`` when given)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
        config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Applies every migration not yet applied (idempotent)."""
    try:
        command.upgrade(alembic_config(engine), "head")
    except CollabError:
        raise
    except Exception as error:
        raise DatabaseError(
            f"cannot migrate {engine.url.render_as_string()}: {type(error).__name__}: {error}"
        ) from None
