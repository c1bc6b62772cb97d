"""Forecast returns turned into `stock_pred` rows: closes for the next session, as traded.

Models learn split-adjusted log returns; pred_close = as-of close (as traded) x exp(return). A
split between the as-of and the target session is not modelled: that one forecast is off by the
split ratio (splits are announced, but we do not ingest announcements).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockcast.calendar import next_sessions
from stockcast.frames import require_columns

FORECAST_COLUMNS = (
    "ticker", "as_of_date", "model", "pred_return", "lower_return", "upper_return", "is_champion",
)  # fmt: skip
PRED_COLUMNS = (
    "ticker", "as_of_date", "target_date", "model", "pred_close", "pred_lower", "pred_upper",
    "is_champion",
)  # fmt: skip


def target_sessions(ticker: str, as_of_dates) -> pd.DatetimeIndex:
    """The session each forecast is for: the next session of the ticker's exchange."""
    return next_sessions(ticker, pd.DatetimeIndex(as_of_dates))


def to_price_rows(
    forecasts: pd.DataFrame, as_of_closes: pd.DataFrame, target_dates: pd.DataFrame | None = None
) -> pd.DataFrame:
    """PRED_COLUMNS (+ any extra forecast columns, e.g. trained_as_of), one row per forecast.

    as_of_closes: rows of ticker, date, close (the canonical prices frame will do).
    target_dates: rows of ticker, as_of_date, target_date; None computes them from the calendar.
    """
    require_columns(forecasts, FORECAST_COLUMNS, "to_price_rows")
    require_columns(as_of_closes, ("ticker", "date", "close"), "to_price_rows as_of_closes")
    closes = as_of_closes[["ticker", "date", "close"]].rename(columns={"date": "as_of_date"})
    rows = forecasts.merge(closes, on=["ticker", "as_of_date"], how="left", validate="many_to_one")
    if rows["close"].isna().any():
        missing = rows.loc[rows["close"].isna(), ["ticker", "as_of_date"]].drop_duplicates()
        raise KeyError(f"no as-of close for {missing.to_dict('records')[:3]}: ingest those dates")
    targets = make_targets(rows) if target_dates is None else target_dates
    rows = rows.merge(
        targets[["ticker", "as_of_date", "target_date"]].drop_duplicates(),
        on=["ticker", "as_of_date"],
        how="left",
        validate="many_to_one",
    )
    rows = rows.assign(
        pred_close=rows["close"] * np.exp(rows["pred_return"]),
        pred_lower=rows["close"] * np.exp(rows["lower_return"]),
        pred_upper=rows["close"] * np.exp(rows["upper_return"]),
    )
    check_one_champion(rows)
    extra = [c for c in forecasts.columns if c not in (*PRED_COLUMNS, *FORECAST_COLUMNS)]
    return rows[[*PRED_COLUMNS, *extra]].reset_index(drop=True)


def make_targets(rows: pd.DataFrame) -> pd.DataFrame:
    """ticker, as_of_date, target_date for every distinct (ticker, as_of_date) of `rows`."""
    pairs = rows[["ticker", "as_of_date"]].drop_duplicates()
    if pairs.empty:
        return pairs.assign(target_date=pd.Series(dtype="datetime64[ns]"))
    parts = [
        one.assign(target_date=target_sessions(ticker, one["as_of_date"]))
        for ticker, one in pairs.groupby("ticker", sort=False)
    ]
    return pd.concat(parts, ignore_index=True)


def check_one_champion(rows: pd.DataFrame) -> None:
    """Raise ValueError unless every (ticker, target_date) has exactly one champion row."""
    champions = rows.groupby(["ticker", "target_date"])["is_champion"].sum()
    wrong = champions[champions != 1]
    if len(wrong):
        raise ValueError(
            f"every (ticker, target_date) needs exactly one champion; these have "
            f"{wrong.astype(int).to_dict()}: a forecast frame mixes two trainings"
        )


def missing_forecasts(forecasts: pd.DataFrame, tickers) -> dict[str, str]:
    """ticker -> why it has nothing to predict from: no forecast was handed over for it."""
    handed = set(forecasts["ticker"])
    return {
        ticker: "no forecast from 04_train: see that stage's failure for this ticker"
        for ticker in tickers
        if ticker not in handed
    }
