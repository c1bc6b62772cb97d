"""Rows in and out, shared by the table modules: frames to driver-ready records, the upsert
every write goes through, and query results back to frames (dates as naive Timestamps)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from stockcast.errors import DatabaseUnavailable

# --- writing ----------------------------------------------------------------------------------


def utc_now() -> datetime:
    """The timestamp every write stamps (`updated_at`, `created_at`, run times)."""
    return datetime.now(UTC)


def _clean(value):
    """A value SQL drivers accept: Python scalars, dates for timestamps, None for NaN."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if hasattr(value, "item") and not isinstance(value, (dict, list)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def to_records(frame: pd.DataFrame, columns: Iterable[str]) -> list[dict]:
    """The frame's `columns` as one dict per row, values cleaned for the driver."""
    columns = list(columns)
    return [
        {col: _clean(val) for col, val in zip(columns, row, strict=True)}
        for row in frame[columns].itertuples(index=False, name=None)
    ]


def upsert(conn: Connection, table: sa.Table, rows: list[dict]) -> None:
    """Insert the rows, updating those whose primary key exists: a second write changes nothing."""
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the two supported back ends are above
        raise DatabaseUnavailable(f"unsupported database dialect {conn.dialect.name!r}")
    statement = insert(table)
    updates = {c: statement.excluded[c] for c in rows[0] if c not in keys}
    statement = statement.on_conflict_do_update(index_elements=keys, set_=updates)
    conn.execute(statement, rows)


# --- reading ----------------------------------------------------------------------------------


def read_frame(engine: Engine, query) -> pd.DataFrame:
    """The query's result as a frame (its columns even when no row matches)."""
    with engine.connect() as conn:
        result = conn.execute(query)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def as_timestamps(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """Date columns as naive `datetime64[ns]`, whatever the driver returned."""
    for column in columns:
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    return frame


def in_window(query, table, date_column: str, tickers, start, end):
    """`query` restricted to the tickers and to dates in [start, end] (None or NaT, the minimum
    of no dates: unbounded), ordered by ticker, date."""
    if tickers is not None:
        query = query.where(table.c.ticker.in_(list(tickers)))
    if pd.notna(start):
        query = query.where(table.c[date_column] >= pd.Timestamp(start).date())
    if pd.notna(end):
        query = query.where(table.c[date_column] <= pd.Timestamp(end).date())
    return query.order_by(table.c.ticker, table.c[date_column])


def select_window(table: sa.Table, date_column: str, tickers, start, end):
    """Every column of `table`, restricted as `in_window` does."""
    return in_window(sa.select(table), table, date_column, tickers, start, end)


def one_page(query, limit: int | None, offset: int):
    """`limit` rows from `offset` on (every row from `offset` when `limit` is None)."""
    return query.limit(limit).offset(offset) if limit is not None else query.offset(offset)


def count_rows(engine: Engine, query) -> int:
    """How many rows `query` returns, counted by the database."""
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
