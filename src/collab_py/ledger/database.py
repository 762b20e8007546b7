"""Opening the listeners' database and bringing its schema up to date with the Alembic migrations.

SQLite (the embedded default) runs in WAL mode with a busy timeout, so a reader never blocks the writer and a
briefly locked database is waited for; a new database file is created with mode 0600 (SQLite gives its WAL and
shared-memory files the same mode). SQLAlchemy, not the sqlite3 module, begins its transactions (the recipe of
SQLAlchemy's SQLite dialect documentation), so that savepoints work and a writer can take the write lock when it
begins (:func:`writer`: ``BEGIN IMMEDIATE``) instead of failing to upgrade a read lock another writer overtook.
PostgreSQL is the production target (``postgresql+psycopg://...``).

A URL is only ever shown masked (:func:`collab_py.redaction.mask_url`), and Alembic gets the connection, never the
URL: a password that needs URL escaping (``%40``) is no interpolation syntax for Alembic's configuration.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationInfo
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from collab_py.exceptions import CollabError
from collab_py.files import create_private
from collab_py.redaction import mask_url, remember_url, scrub
from collab_py.settings import SQLITE_CACHE_MIB

MIGRATIONS = Path(__file__).with_name("migrations")
#: How long SQLite waits for a lock held by another connection.
SQLITE_BUSY_TIMEOUT_MS = 30_000

log = logging.getLogger("collab.ledger")


class DatabaseError(CollabError):
    """The ledger database URL is invalid or the database cannot be reached."""


def open_database(url: str, *, migrate: bool = True, cache_mib: int = SQLITE_CACHE_MIB) -> Engine:
    """An engine for ``url`` (``sqlite:///file.db``, ``postgresql+psycopg://user@host/db``), migrated to head.
    ``sqlite://`` (in memory) is a private file removed at exit, so that threads share it as they share a file.
    ``cache_mib``: on SQLite, each connection's page cache."""
    remember_url(url)
    try:
        parsed = make_url(url)
    except Exception:
        raise DatabaseError(
            f"invalid database URL {mask_url(url)}: expected dialect+driver://user:password@host/db"
        ) from None
    options: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        if parsed.database in (None, "", ":memory:"):  # a private file instead: one database for every thread,
            parsed = parsed.set(database=_scratch_file())  # each with its own connection and transactions
        elif not parsed.database.startswith("file:"):
            _create_private(Path(parsed.database))
    else:
        options["pool_pre_ping"] = True
    try:
        engine = create_engine(parsed, **options)
    except Exception as error:  # an unknown dialect or driver, a malformed option
        raise DatabaseError(f"cannot open {mask_url(url)}: {type(error).__name__}: {scrub(str(error))}") from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, cache_kib=cache_mib * 1024))
        event.listen(engine, "begin", _sqlite_begin)
    if migrate:
        upgrade(engine)
    return engine


def _scratch_file() -> str:
    """A file for an "in-memory" SQLite database, removed when the process exits."""
    folder = tempfile.mkdtemp(prefix="collab-ledger-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return str(Path(folder) / "ledger.db")


def _create_private(path: Path) -> None:
    """Creates a missing SQLite database file with mode 0600 (SQLite would create it with the umask's mode)."""
    with contextlib.suppress(OSError):  # a missing folder, no permission: SQLite's error says it on connect
        create_private(path)


def _sqlite_pragmas(connection: Any, _record: Any, *, cache_kib: int) -> None:
    connection.isolation_level = None  # the driver begins nothing itself: _sqlite_begin does
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
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


def alembic_config(connection: Connection | None = None, migrations: Path = MIGRATIONS) -> Config:
    """Alembic's configuration for ``migrations`` (default: the ledger's), run on ``connection`` when given (never a
    URL). The environments pass ``config.attributes["on_version_apply"]`` (callbacks) on to Alembic."""
    config = Config()
    config.set_main_option("script_location", str(migrations))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, migrations: Path = MIGRATIONS) -> None:
    """Applies every migration of ``migrations`` (default: the ledger's) not yet applied (idempotent), and says in
    one line which ran, if any (Alembic's own lines are for debugging)."""
    shown = mask_url(engine.url.render_as_string(hide_password=False))
    applied: list[str] = []

    def record(*, step: MigrationInfo, **_: object) -> None:
        applied.append(str(step.up_revision_id))

    try:
        with engine.begin() as connection:
            config = alembic_config(connection, migrations)
            config.attributes["on_version_apply"] = [record]
            command.upgrade(config, "head")
    except CollabError:
        raise
    except Exception as error:
        raise DatabaseError(f"cannot migrate {shown}: {type(error).__name__}: {scrub(str(error))}") from None
    if applied:
        log.info("migrated the %s tables of %s: %s", migrations.parent.name, shown, ", ".join(applied))
