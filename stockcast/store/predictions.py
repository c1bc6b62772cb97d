"""`stock_pred`, `stock_pred_eval` and `model_params`: every candidate's forecast (one champion
per ticker and target session), its evaluation, and the tuned hyperparameters."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from stockcast.store.rows import (
    as_timestamps,
    count_rows,
    in_window,
    one_page,
    read_frame,
    select_window,
    to_records,
    upsert,
    utc_now,
)
from stockcast.store.schema import model_params, stock_pred, stock_pred_eval, stock_price

# --- writing ----------------------------------------------------------------------------------


def save_predictions(engine: Engine, preds: pd.DataFrame, run_id: str) -> int:
    """Upsert prediction rows; per (ticker, target_date) only the flagged model stays champion."""
    columns = [
        "ticker",
        "target_date",
        "model",
        "as_of_date",
        "pred_close",
        "pred_lower",
        "pred_upper",
        "is_champion",
        "model_version",
    ]
    frame = preds.copy()
    if "model_version" not in frame:
        frame["model_version"] = None
    for ticker, rows in frame.groupby("ticker", sort=True):
        records = to_records(rows, columns)
        stamp = utc_now()
        for record in records:
            record.update(run_id=run_id, created_at=stamp, is_champion=bool(record["is_champion"]))
        champions = sorted({(r["target_date"], r["model"]) for r in records if r["is_champion"]})
        with engine.begin() as conn:
            upsert(conn, stock_pred, records)
            for chunk in chunks(champions, CHAMPION_CHUNK):
                conn.execute(one_champion_each(ticker, chunk))
    return len(frame)


# Target sessions per champion UPDATE: 3 bound values each, well below SQLite's 32,766 limit.
CHAMPION_CHUNK = 2000


def chunks(items: list, size: int):
    for first in range(0, len(items), size):
        yield items[first : first + size]


def one_champion_each(ticker: str, champions: list[tuple]) -> sa.Update:
    """One UPDATE for a ticker's (target_date, champion model) pairs: at each of those target
    dates the named model becomes the champion and every other model's row stops being one (a
    row per pair took 56 s for 500 tickers x 20 sessions on SQLite)."""
    dates = [target_date for target_date, _ in champions]
    return (
        sa.update(stock_pred)
        .where(stock_pred.c.ticker == ticker, stock_pred.c.target_date.in_(dates))
        .values(is_champion=sa.tuple_(stock_pred.c.target_date, stock_pred.c.model).in_(champions))
    )


def save_evaluations(engine: Engine, evals: pd.DataFrame, run_id: str) -> int:
    """Upsert `stock_pred_eval` rows, one transaction per ticker."""
    columns = [
        "ticker",
        "target_date",
        "model",
        "pred_close",
        "true_close",
        "abs_error",
        "pct_error",
        "inside_interval",
    ]
    for _ticker, rows in evals.groupby("ticker", sort=True):
        records = [dict(r, run_id=run_id) for r in to_records(rows, columns)]
        with engine.begin() as conn:
            upsert(conn, stock_pred_eval, records)
    return len(evals)


def save_params(engine: Engine, tuned: pd.DataFrame, run_id: str) -> int:
    """Upsert tuned hyperparameters (`ticker, model, tuned_as_of, params, cv_rmse`)."""
    columns = ["ticker", "model", "tuned_as_of", "params", "cv_rmse"]
    for _ticker, rows in tuned.groupby("ticker", sort=True):
        records = [dict(r, run_id=run_id) for r in to_records(rows, columns)]
        with engine.begin() as conn:
            upsert(conn, model_params, records)
    return len(tuned)


# --- reading ----------------------------------------------------------------------------------


def load_predictions(
    engine: Engine, tickers=None, start=None, end=None, limit: int | None = None, offset: int = 0
) -> pd.DataFrame:
    """`stock_pred` rows with target_date in [start, end], optionally one page of them."""
    query = select_window(stock_pred, "target_date", tickers, start, end).order_by(
        stock_pred.c.model
    )
    return as_timestamps(
        read_frame(engine, one_page(query, limit, offset)), "target_date", "as_of_date"
    )


def _evaluations_query(tickers, start, end):
    keys = ("ticker", "target_date", "model")
    query = sa.select(
        stock_pred_eval,
        stock_pred.c.as_of_date,
        stock_pred.c.is_champion,
        stock_pred.c.pred_lower,
        stock_pred.c.pred_upper,
    ).join(stock_pred, sa.and_(*(stock_pred.c[k] == stock_pred_eval.c[k] for k in keys)))
    query = in_window(query, stock_pred_eval, "target_date", tickers, start, end)
    return query.order_by(stock_pred_eval.c.model)


def load_evaluations(
    engine: Engine, tickers=None, start=None, end=None, limit: int | None = None, offset: int = 0
) -> pd.DataFrame:
    """`stock_pred_eval` rows joined with their prediction's as-of date, interval and champion
    flag, with target_date in [start, end], optionally one page of them."""
    query = one_page(_evaluations_query(tickers, start, end), limit, offset)
    return as_timestamps(read_frame(engine, query), "target_date", "as_of_date")


def count_predictions(engine: Engine, ticker: str, start=None, end=None) -> int:
    """How many `stock_pred` rows `load_predictions` would return unpaged."""
    query = select_window(stock_pred, "target_date", [ticker], start, end).order_by(None)
    return count_rows(engine, query)


def count_evaluations(engine: Engine, ticker: str, start=None, end=None) -> int:
    """How many rows `load_evaluations` would return unpaged."""
    return count_rows(engine, _evaluations_query([ticker], start, end).order_by(None))


def latest_predictions(engine: Engine, ticker: str) -> pd.DataFrame:
    """Every candidate's row for the ticker's newest target session, with the as-of close."""
    newest = sa.select(sa.func.max(stock_pred.c.target_date)).where(stock_pred.c.ticker == ticker)
    query = (
        sa.select(stock_pred, stock_price.c.close.label("as_of_close"))
        .outerjoin(
            stock_price,
            sa.and_(
                stock_price.c.ticker == stock_pred.c.ticker,
                stock_price.c.date == stock_pred.c.as_of_date,
            ),
        )
        .where(stock_pred.c.ticker == ticker, stock_pred.c.target_date == newest.scalar_subquery())
        .order_by(stock_pred.c.model)
    )
    return as_timestamps(read_frame(engine, query), "target_date", "as_of_date")


def load_params(engine: Engine, tickers=None, as_of=None) -> pd.DataFrame:
    """Every tuned row (or those tuned on or before `as_of`), newest last."""
    query = sa.select(model_params)
    if tickers is not None:
        query = query.where(model_params.c.ticker.in_(list(tickers)))
    if as_of is not None:
        query = query.where(model_params.c.tuned_as_of <= pd.Timestamp(as_of).date())
    query = query.order_by(model_params.c.ticker, model_params.c.model, model_params.c.tuned_as_of)
    return as_timestamps(read_frame(engine, query), "tuned_as_of")
