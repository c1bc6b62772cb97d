"""Engines and the schema's version: connect and migrate (Alembic, applied at start), open an
existing database read-only for readers, and turn a database that cannot answer into one line
(DatabaseUnavailable, secrets masked)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from stockcast.config import mask_secrets, mask_url
from stockcast.errors import DatabaseUnavailable, first_line
from stockcast.store.schema import READ_TABLES, pipeline_run

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# SQLite's codes for a database that cannot answer now; other errors (a missing table, a write
# refused by the read-only connection) stay the driver's own.
SQLITE_UNAVAILABLE = ("SQLITE_CANTOPEN", "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR")


# --- connecting and migrating -----------------------------------------------------------------


def connect(url: str, migrate: bool = True) -> Engine:
    """An engine on `url`, migrated to the newest schema; DatabaseUnavailable if unreachable."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = sa.create_engine(url, pool_pre_ping=True)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            if migrate:
                upgrade(conn)
                conn.commit()
    except ImportError as exc:
        raise DatabaseUnavailable(f"database {mask_url(url)}: driver missing ({exc})") from None
    except (sa.exc.SQLAlchemyError, ValueError) as exc:
        raise unreachable(url, exc) from None
    return engine


def _alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest migration's revision: the schema this code reads and writes."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def upgrade(conn: Connection) -> None:
    """Apply the Alembic migrations up to head on this connection (a no-op when current)."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    if MigrationContext.configure(conn).get_current_revision() == head_revision():
        return
    config = _alembic_config()
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


# --- reading what exists, never creating it ---------------------------------------------------


def open_existing(url: str) -> Engine | None:
    """A read-only engine on a database a run has initialised, or None when there is none yet
    (no file, no tables): what readers such as `status` use, never creating or migrating.
    DatabaseUnavailable, naming the file and the fix, for an empty, foreign or corrupt file."""
    from alembic.runtime.migration import MigrationContext

    path = _sqlite_path(url)
    if path is not None and not path.exists():
        return None
    if path is not None and path.is_file() and path.stat().st_size == 0:
        raise DatabaseUnavailable(
            f"database file {path} is empty (0 bytes): delete it, or run the pipeline "
            "(`python -m runner demo`) to create its tables"
        )
    engine = connect_read_only(url)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            revision = MigrationContext.configure(conn).get_current_revision()
    except sa.exc.SQLAlchemyError as exc:
        raise unreachable(url, exc) from None
    if pipeline_run.name not in tables:
        if path is not None and tables:
            raise DatabaseUnavailable(
                f"database file {path} holds no stockcast tables ({', '.join(sorted(tables))}): "
                "point STOCKCAST_DB_URL at stockcast's database, or move this file aside"
            )
        return None
    if revision != head_revision():
        raise DatabaseUnavailable(
            f"database {_describe(url)} is at schema revision {revision}, this stockcast reads "
            f"{head_revision()}: a run migrates it (`python -m runner daily`)"
        )
    return engine


def sqlite_file_missing(url: str) -> bool:
    """Whether `url` names a SQLite file that does not exist yet (a reader must not create it)."""
    return url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file()


def connect_read_only(url: str) -> Engine:
    """An engine that cannot write: SQLite opened read-only (never created), PostgreSQL sessions
    in read-only transactions. No migration is applied; DatabaseUnavailable if unreachable, and
    from any query that fails because the database cannot answer (gone, locked, restarting)."""
    if sqlite_file_missing(url):
        raise DatabaseUnavailable(f"database {url} does not exist yet: run `make run` first")
    if url.startswith("sqlite:///"):
        import sqlite3

        uri = f"{Path(url.removeprefix('sqlite:///')).resolve().as_uri()}?mode=ro"

        def opener():
            return sqlite3.connect(uri, uri=True, check_same_thread=False)

        # One connection per checkout: the "sqlite://" URL would pick SingletonThreadPool, which
        # closes connections that other threads still use under concurrent requests.
        engine = sa.create_engine("sqlite://", creator=opener, poolclass=sa.pool.NullPool)
    else:  # keep options the URL already sets (a search_path, say) beside read-only
        parsed = sa.engine.make_url(url)
        options = " ".join(
            filter(None, [parsed.query.get("options"), "-c default_transaction_read_only=on"])
        )
        timeout = parsed.query.get("connect_timeout", "10")  # a lost server is a 503, not a hang
        engine = sa.create_engine(
            parsed.difference_update_query(["options", "connect_timeout"]),
            pool_pre_ping=True,
            connect_args={"options": options, "connect_timeout": timeout},
        )
    sa.event.listen(engine, "handle_error", _unavailable_on_operational_error(url))
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        raise unreachable(url, exc) from None
    return engine


def schema_ready(engine: Engine) -> bool:
    """Whether a run has created the tables the readers query (a fresh database has none)."""
    with engine.connect() as conn:
        return set(READ_TABLES) <= set(sa.inspect(conn).get_table_names())


# --- one line for a database that cannot answer -----------------------------------------------


def _unavailable_on_operational_error(url: str):
    """A `handle_error` hook: the database failing to answer (server down, file gone, locked)
    raises DatabaseUnavailable; pre-pings are left alone so the pool can reconnect."""

    def rewrite(context) -> None:
        if context.is_pre_ping:
            return
        if not isinstance(context.sqlalchemy_exception, sa.exc.OperationalError):
            return
        code = getattr(context.original_exception, "sqlite_errorname", None)
        if code is None or code.startswith(SQLITE_UNAVAILABLE):
            raise unreachable(url, context.original_exception)

    return rewrite


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory ones)."""
    database = sa.engine.make_url(url).database if url.startswith("sqlite") else None
    return Path(database).expanduser() if database and database != ":memory:" else None


def _describe(url: str) -> str:
    path = _sqlite_path(url)
    return f"file {path}" if path is not None else mask_url(url)


def unreachable(url: str, exc: Exception) -> DatabaseUnavailable:
    """One line naming the database (secrets masked, in the URL and in the driver's reason)."""
    reason = mask_secrets(first_line(getattr(exc, "orig", None) or exc), url)
    path = _sqlite_path(url)
    if path is not None and "file is not a database" in reason:
        return DatabaseUnavailable(
            f"database file {path} is not a SQLite database ({reason}): move it aside or "
            "delete it; the next run creates a new one"
        )
    if path is not None:
        return DatabaseUnavailable(
            f"database file {path} is unreachable ({reason}): check STOCKCAST_DB_URL and "
            "the file's folder and permissions"
        )
    return DatabaseUnavailable(
        f"database {mask_url(url)} is unreachable ({reason}): check STOCKCAST_DB_URL "
        "and that the server is running"
    )
