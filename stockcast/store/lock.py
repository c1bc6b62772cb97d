"""The run lock on PostgreSQL: one advisory lock per database and schema, held by a connection
for the run's life (SQLite runs use a file lock, in runner/lock.py)."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stockcast.errors import DatabaseUnavailable
from stockcast.store.engine import unreachable
from stockcast.store.schema import pipeline_run


def _advisory_key(conn: Connection) -> int:
    """One lock per database and schema, however the URL spells the server's name."""
    where = conn.execute(
        sa.text("SELECT current_database() || '.' || coalesce(current_schema(), '')")
    ).scalar()
    digest = hashlib.sha256(f"stockcast.pipeline:{where}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _lock_connection(url: str, name: str | None = None) -> Connection:
    args = {"application_name": name[:63]} if name else {}
    try:
        return sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args=args).connect()
    except sa.exc.SQLAlchemyError as exc:
        raise unreachable(url, exc) from None


def try_advisory_lock(url: str, holder: str) -> Connection | None:
    """A connection holding this database's pipeline advisory lock, or None if another holds it.

    The lock lives as long as the connection: close it to release, or die and it is released.
    The connection's application name is `holder`, so a refused run can name who holds it.
    """
    conn = _lock_connection(url, holder)
    got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": _advisory_key(conn)})
    if got.scalar():
        conn.commit()
        return conn
    conn.close()
    return None


def advisory_lock_holder(url: str) -> str | None:
    """The `holder` given by the session that holds the pipeline lock, if this role can see it."""
    query = sa.text(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid::bigint = :high AND l.objid::bigint = :low"
    )
    try:
        with _lock_connection(url) as conn:
            key = _advisory_key(conn) & 0xFFFFFFFFFFFFFFFF
            holder = conn.execute(query, {"high": key >> 32, "low": key & 0xFFFFFFFF}).scalar()
    except (sa.exc.SQLAlchemyError, DatabaseUnavailable):
        return None
    return holder or None


def running_run(url: str) -> str | None:
    """The newest run still marked `running`, if the tables exist yet."""
    try:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            query = (
                sa.select(pipeline_run.c.run_id)
                .where(pipeline_run.c.status == "running")
                .order_by(pipeline_run.c.started_at.desc())
                .limit(1)
            )
            return conn.execute(query).scalar()
    except sa.exc.SQLAlchemyError:
        return None
