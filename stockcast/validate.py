"""Checks price rows before anything is stored; a ticker that fails is skipped with its reason.

Each check returns a one-line reason naming the ticker, the first offending date and the fix, or
None. A ticker's rows are stored only when every check passes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockcast.calendar import calendar_for, sessions
from stockcast.config import exchange_for
from stockcast.frames import BASE_PRICE_COLUMNS, PRICE_FIELDS

# Relative slack for high/low checks: providers round each field separately.
TOLERANCE = 1e-6
# No real quote comes near this: the dearest share (BRK-A) trades under 1e6 USD, the largest
# numbers Yahoo serves (Bitcoin in Vietnamese dong or Indonesian rupiah) are a few 1e9, and
# hyperinflated indexes were rebased long before. Above it a price is a typo or an overflow
# (1e308 passes as a float but its squares are inf, and the features and the models break).
MAX_PRICE = 1e12


def _first_date(rows: pd.DataFrame, mask: pd.Series) -> str:
    return pd.Timestamp(rows.loc[mask, "date"].iloc[0]).date().isoformat()


def check_columns(prices: pd.DataFrame) -> str | None:
    missing = [c for c in BASE_PRICE_COLUMNS if c not in prices.columns]
    if missing:
        return f"price rows are missing columns {', '.join(missing)}"
    return None


def check_duplicates(ticker: str, rows: pd.DataFrame) -> str | None:
    duplicated = rows["date"].duplicated(keep=False)
    if duplicated.any():
        count = int(rows.loc[duplicated, "date"].nunique())
        return (
            f"{ticker} has {count} duplicated date(s), first {_first_date(rows, duplicated)}: "
            "keep one row per session"
        )
    return None


def check_numeric(ticker: str, rows: pd.DataFrame) -> str | None:
    for field in (*PRICE_FIELDS, "volume"):
        values = pd.to_numeric(rows[field], errors="coerce")
        bad = values.isna() & rows[field].notna()
        if bad.any():
            value = rows.loc[bad, field].iloc[0]
            return (
                f"{ticker} has a non-numeric {field} on {_first_date(rows, bad)} ({value!r}): "
                "fix the source data"
            )
    return None


def check_missing(ticker: str, rows: pd.DataFrame) -> str | None:
    for field in PRICE_FIELDS:
        missing = rows[field].isna()
        if missing.any():
            return (
                f"{ticker} has a missing {field} on {_first_date(rows, missing)}: "
                "every session needs open, high, low and close"
            )
    return None


def check_magnitude(ticker: str, rows: pd.DataFrame) -> str | None:
    """Prices finite and below MAX_PRICE; volumes finite (a missing volume is imputed later)."""
    for field in PRICE_FIELDS:
        values = pd.to_numeric(rows[field]).astype("float64")
        bad = ~np.isfinite(values) | (values.abs() > MAX_PRICE)
        if bad.any():
            return (
                f"{ticker} has an implausible {field} on {_first_date(rows, bad)} "
                f"({float(values[bad].iloc[0])}): prices must be finite and below {MAX_PRICE:g}; "
                "fix the source data"
            )
    volume = pd.to_numeric(rows["volume"]).astype("float64")
    bad = np.isinf(volume)
    if bad.any():
        return (
            f"{ticker} has a non-finite volume on {_first_date(rows, bad)} "
            f"({float(volume[bad].iloc[0])}): fix the source data"
        )
    return None


def check_positive(ticker: str, rows: pd.DataFrame) -> str | None:
    for field in PRICE_FIELDS:
        bad = rows[field] <= 0
        if bad.any():
            return (
                f"{ticker} has a non-positive {field} ({rows.loc[bad, field].iloc[0]}) on "
                f"{_first_date(rows, bad)}: prices must be above zero"
            )
    bad = rows["volume"] < 0
    if bad.any():
        return (
            f"{ticker} has a negative volume on {_first_date(rows, bad)} "
            f"({rows.loc[bad, 'volume'].iloc[0]}): volumes are at least 0; fix the source data"
        )
    return None


def check_sessions(ticker: str, rows: pd.DataFrame) -> str | None:
    """Every row on a session of the ticker's exchange; rows older than its calendar (1990)
    cannot be checked and pass."""
    dates = pd.DatetimeIndex(rows["date"])
    checked = dates >= calendar_for(ticker).first_session.tz_localize(None)
    bad = pd.Series(checked & ~dates.isin(sessions(ticker, dates.min(), dates.max())), rows.index)
    if bad.any():
        first = pd.Timestamp(rows.loc[bad, "date"].iloc[0])
        return (
            f"{ticker} has {int(bad.sum())} row(s) on days that are not {exchange_for(ticker)} "
            f"sessions, first {first.date()} ({first.day_name()}): remove them, or check the "
            f"dates are {ticker}'s exchange sessions"
        )
    return None


def check_high_low(ticker: str, rows: pd.DataFrame) -> str | None:
    top = rows[["open", "close", "low"]].max(axis=1) * (1 - TOLERANCE)
    bottom = rows[["open", "close", "high"]].min(axis=1) * (1 + TOLERANCE)
    bad = (rows["high"] < top) | (rows["low"] > bottom)
    if bad.any():
        row = rows.loc[bad].iloc[0]
        return (
            f"{ticker} has high/low inconsistent with open/close on {_first_date(rows, bad)} "
            f"(open {row['open']}, high {row['high']}, low {row['low']}, close {row['close']})"
        )
    return None


CHECKS = (
    check_duplicates,
    check_numeric,
    check_missing,
    check_magnitude,
    check_positive,
    check_high_low,
    check_sessions,
)


def find_problem(ticker: str, rows: pd.DataFrame) -> str | None:
    """The first failed check's reason for one ticker's rows, or None when they are valid."""
    if rows.empty:
        return f"{ticker} has no price rows"
    for check in CHECKS:
        reason = check(ticker, rows)
        if reason:
            return reason
    return None


def validate_prices(prices: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """Split price rows into the tickers that pass every check and {ticker: reason} for the rest."""
    reason = check_columns(prices)
    if reason:
        tickers = prices["ticker"].unique() if "ticker" in prices else ["<all>"]
        return prices.iloc[0:0], {str(t): reason for t in tickers}
    failures = {}
    for ticker, rows in prices.groupby("ticker", sort=True):
        problem = find_problem(str(ticker), rows)
        if problem:
            failures[str(ticker)] = problem
    valid = prices[~prices["ticker"].isin(failures)].copy()
    for field in (*PRICE_FIELDS, "volume"):
        valid[field] = pd.to_numeric(valid[field]).astype("float64")
    return valid.reset_index(drop=True), failures
