"""Synthetic price frames in the canonical layout, on real XNYS sessions, for the model tests.

Random walks (no signal: naive should be served), AR(1) returns (a signal ridge can learn),
constant prices (zero variance), a 2:1 split, and gaps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockcast.calendar import sessions
from stockcast.features import FEATURE_COLUMNS

START = "2005-01-03"


def make_sessions(n: int, start: str = START, ticker: str = "AAA") -> pd.DatetimeIndex:
    """The first n XNYS sessions from start."""
    days = sessions(ticker, start, pd.Timestamp(start) + pd.Timedelta(days=int(n * 1.6) + 30))
    return days[:n]


def make_prices(
    n: int = 300,
    ticker: str = "AAA",
    seed: int = 0,
    phi: float = 0.0,
    sigma: float = 0.01,
    split_at: int | None = None,
    split_ratio: float = 2.0,
    constant: bool = False,
    start: str = START,
) -> pd.DataFrame:
    """One ticker's canonical rows: adjusted log returns r_t = phi r_{t-1} + sigma e_t.

    With split_at, rows before it trade at split_ratio x the adjusted price (as traded), with
    volume divided by the ratio, and stock_splits holds the ratio on the split session.
    """
    rng = np.random.default_rng(seed)
    returns = np.zeros(n)
    shocks = rng.normal(0.0, sigma, n)
    for t in range(1, n):
        returns[t] = phi * returns[t - 1] + shocks[t]
    adj_close = np.full(n, 50.0) if constant else 50.0 * np.exp(np.cumsum(returns))
    traded = np.ones(n)
    splits = np.zeros(n)
    if split_at is not None:
        traded[:split_at] = split_ratio
        splits[split_at] = split_ratio
    close = adj_close * traded
    spread = 0.0 if constant else np.abs(rng.normal(0.0, sigma, n))
    volume = np.full(n, 1e6) if constant else rng.lognormal(13.0, 0.3, n)
    return pd.DataFrame(
        {
            "ticker": ticker,
            "date": make_sessions(n, start, ticker),
            "open": close * (1 + (0.0 if constant else rng.normal(0.0, sigma / 2, n))),
            "high": close * (1 + spread),
            "low": close * (1 - spread),
            "close": close,
            "adj_close": adj_close,
            "volume": volume / traded,
            "dividends": 0.0,
            "stock_splits": splits,
        }
    )


def make_panel(tickers=("AAA", "BBB"), n: int = 300, **options) -> pd.DataFrame:
    """Several tickers stacked, each its own seed."""
    frames = [make_prices(n, ticker, seed=i, **options) for i, ticker in enumerate(tickers)]
    return pd.concat(frames, ignore_index=True)


def perturb_after(prices: pd.DataFrame, day, seed: int = 99) -> pd.DataFrame:
    """The same rows with every price and volume strictly after `day` scrambled."""
    rng = np.random.default_rng(seed)
    changed = prices.copy()
    later = changed["date"] > pd.Timestamp(day)
    factor = rng.uniform(0.5, 1.5, later.sum())
    for column in ("open", "high", "low", "close", "adj_close"):
        changed.loc[later, column] = changed.loc[later, column] * factor
    changed.loc[later, "volume"] = changed.loc[later, "volume"] * rng.uniform(0.1, 10, later.sum())
    return changed


def labelled(features: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """(X, y) by date: the post-warm-up rows whose label is known, as training sees them."""
    rows = features[~features["warm_up"] & features["label"].notna()]
    return rows.set_index("date")[list(FEATURE_COLUMNS)], rows.set_index("date")["label"]
