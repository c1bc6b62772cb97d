"""`stock_price`: the daily bars, upserted one transaction per ticker, read back as the
canonical long frame."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from stockcast.store.rows import (
    as_timestamps,
    read_frame,
    select_window,
    to_records,
    upsert,
    utc_now,
)
from stockcast.store.schema import PRICE_COLUMNS, stock_price

# --- writing ----------------------------------------------------------------------------------


def save_prices(
    engine: Engine, prices: pd.DataFrame, source: str, refresh: Iterable[str] = ()
) -> pd.DataFrame:
    """Upsert each ticker's rows in its own transaction; tickers in `refresh` are replaced whole.

    Returns one row per ticker: rows stored before and after, rows added.
    """
    refresh, summary = set(refresh), []
    for ticker, rows in prices.groupby("ticker", sort=True):
        records = to_records(rows, PRICE_COLUMNS)
        stamp = utc_now()
        for record in records:
            record.update(source=source, updated_at=stamp)
        with engine.begin() as conn:
            before = _count(conn, stock_price, ticker)
            if ticker in refresh:
                conn.execute(sa.delete(stock_price).where(stock_price.c.ticker == ticker))
            upsert(conn, stock_price, records)
            after = _count(conn, stock_price, ticker)
        summary.append(
            {
                "ticker": ticker,
                "rows_before": before,
                "rows": after,
                "rows_added": after - before,
                "refreshed": ticker in refresh,
            }
        )
    return pd.DataFrame(
        summary, columns=["ticker", "rows_before", "rows", "rows_added", "refreshed"]
    )


def _count(conn: Connection, table: sa.Table, ticker: str) -> int:
    query = sa.select(sa.func.count()).select_from(table).where(table.c.ticker == ticker)
    return conn.execute(query).scalar_one()


# --- reading ----------------------------------------------------------------------------------


def load_prices(engine: Engine, tickers=None, start=None, end=None) -> pd.DataFrame:
    """Stored prices as the canonical long frame (dates as naive Timestamps)."""
    frame = read_frame(engine, select_window(stock_price, "date", tickers, start, end))
    return as_timestamps(frame, "date")


def has_ticker(engine: Engine, ticker: str) -> bool:
    """Whether any price is stored for the ticker (one primary-key lookup, no aggregate)."""
    query = sa.select(stock_price.c.ticker).where(stock_price.c.ticker == ticker).limit(1)
    with engine.connect() as conn:
        return conn.execute(query).first() is not None


def price_summary(engine: Engine) -> pd.DataFrame:
    """Per ticker: first and last stored session and the number of rows."""
    query = (
        sa.select(
            stock_price.c.ticker,
            sa.func.min(stock_price.c.date).label("first_date"),
            sa.func.max(stock_price.c.date).label("last_date"),
            sa.func.count().label("rows"),
        )
        .group_by(stock_price.c.ticker)
        .order_by(stock_price.c.ticker)
    )
    return as_timestamps(read_frame(engine, query), "first_date", "last_date")
