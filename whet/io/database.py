"""The applications' SQL databases: a SQLite file (WAL) or any SQLAlchemy URL, schema upgrades by
Alembic, and database failures as one line naming the database and the fix.

SQLite transactions take the write lock when they begin (``BEGIN IMMEDIATE``), waiting up to the
busy timeout: a transaction that reads and then writes would otherwise fail at once when another
process wrote in between, and two processes opening a new file would both create its tables.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from whet.errors import ConfigError

log = logging.getLogger("whet")


class DatabaseError(ConfigError):
    """The database refused a read or a write (locked, read-only, full, unreachable): nothing of
    the transaction was committed. The server answers it with 503, so a client sends again later."""


def database_url(database: str) -> str:
    """An SQLAlchemy URL: URLs as given, anything else a SQLite file."""
    return database if "://" in database else f"sqlite:///{Path(database).expanduser().resolve()}"


def open_engine(database: str, *, setting: str, busy_timeout_s: float = 5.0) -> Any:
    """An engine for ``database`` (``setting`` names it in errors)."""
    import sqlalchemy as sa

    url = database_url(database)
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True)
    path = Path(url.removeprefix("sqlite:///"))
    if not url.startswith("sqlite:///file:") and not path.parent.is_dir():  # file: URIs name their own options
        raise ConfigError(f"{setting}: folder {path.parent} does not exist; create it or name another file")
    engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_s, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        connection.isolation_level = None  # SQLAlchemy begins transactions, below, not the driver
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # writes to a read-only file fail here, at start
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL keeps committed transactions through a crash
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def migrate(engine: Any, script_location: Path, version_table: str) -> None:
    """Create or upgrade the schema with the Alembic migrations in ``script_location``."""
    # Alembic announces its plugins (on import) and each step at INFO; a schema upgrade is worth one line of ours.
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(logging.WARNING)
    try:
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext

        config = Config()
        config.set_main_option("script_location", str(script_location))
        config.attributes["version_table"] = version_table
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            current = MigrationContext.configure(connection, opts={"version_table": version_table})
            before = current.get_current_revision()
            command.upgrade(config, "head")
            after = MigrationContext.configure(connection, opts={"version_table": version_table}).get_current_revision()
    finally:
        alembic_log.setLevel(level)
    if before != after:
        log.info("database schema %s -> %s", before or "empty", after)


def check_writable(engine: Any, table: Any) -> None:
    """Write nothing to ``table`` in a transaction: a lock held by another writer, or a file that
    turned read-only, is found at start, not at the first request."""
    import sqlalchemy as sa

    with engine.begin() as db:
        db.execute(sa.delete(table).where(sa.false()))


@contextlib.contextmanager
def database_errors(where: str, setting: str) -> Iterator[None]:
    """Database failures as one ``ConfigError`` line naming the database and the fix."""
    from sqlalchemy.exc import DBAPIError

    try:
        yield
    except (DBAPIError, sqlite3.Error) as error:
        cause = str(getattr(error, "orig", error) or error).strip().splitlines()[0]
        lowered = cause.lower()
        if "locked" in lowered or "busy" in lowered:
            fix = "another process holds it: stop that process or name another file"
        elif "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
            fix = "the file or its folder is not writable: fix the permissions or name another file"
        elif "disk" in lowered and "full" in lowered:
            fix = "the disk is full: free space"
        else:
            fix = f"check {setting}"
        raise DatabaseError(f"database {where}: {cause}; {fix}") from None
