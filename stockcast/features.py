"""Split-adjusted prices, unit-free technical features and the next-session label, per ticker.

Pure: the long prices frame in, the long features frame out (`make_features`); no I/O.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd

from stockcast.calendar import next_sessions
from stockcast.frames import BASE_PRICE_COLUMNS, require_columns
from stockcast.volatility import SCALE_COLUMNS, compute_scales

FEATURE_COLUMNS = (
    "ret_1d",
    "ret_5d",
    "ret_20d",
    "vol_5d",
    "vol_20d",
    "sma_5_ratio",
    "sma_20_ratio",
    "sma_50_ratio",
    "rsi_14",
    "macd_12_26",
    "macd_signal_9",
    "macd_hist_9",
    "bb_pctb_20",
    "atr_14",
    "volume_z_20d",
)
# The first rows of each ticker are warm-up: the longest window (SMA 50) plus a burn-in for the
# exponentially smoothed indicators (RSI, MACD, ATR), whose first values still echo their seed.
# Warm-up rows are kept, flagged `warm_up`, and all their features are NaN.
WARMUP_SESSIONS = 60
# Below this relative width a band or a standard deviation is treated as zero (constant prices).
TINY = 1e-12


def adjust_prices(prices: pd.DataFrame) -> pd.DataFrame:
    """Add adj_open/adj_high/adj_low (and adj_volume) scaled by the adj_close/close factor."""
    require_columns(prices, BASE_PRICE_COLUMNS, "adjust_prices")
    factor = (prices["adj_close"] / prices["close"]).replace([np.inf, -np.inf], np.nan)
    return prices.assign(
        adj_open=prices["open"] * factor,
        adj_high=prices["high"] * factor,
        adj_low=prices["low"] * factor,
        # Volume moves the other way at a split (twice the shares at half the price).
        adj_volume=prices["volume"] / factor,
    )


def make_label(frame: pd.DataFrame) -> pd.Series:
    """Next-session log return of adj_close; NaN where the next row is not the next session."""
    require_columns(frame, ("ticker", "date", "adj_close"), "make_label")
    ordered = frame.sort_values(["ticker", "date"], kind="stable")
    by_ticker = ordered.groupby("ticker", sort=False)
    # THE forward shift: row t is labelled with what happens at row t+1.
    next_adj_close = by_ticker["adj_close"].shift(-1)
    next_date = by_ticker["date"].shift(-1)
    expected_date = pd.concat(
        pd.Series(next_sessions(ticker, rows["date"]), index=rows.index)
        for ticker, rows in by_ticker
    )
    label = np.log(next_adj_close / ordered["adj_close"]).replace([np.inf, -np.inf], np.nan)
    label = label.where(next_date == expected_date)
    return label.reindex(frame.index).rename("label")


def make_features(prices: pd.DataFrame) -> pd.DataFrame:
    """Long frame: ticker, date, close, adj_close, warm_up, FEATURE_COLUMNS, SCALE_COLUMNS, label.

    The scale columns (volatility forecasts for the intervals, not model inputs) are rolling
    means with no seed to burn in: they are kept on warm-up rows once their window is full."""
    adjusted = adjust_prices(prices).sort_values(["ticker", "date"], kind="stable")
    adjusted = adjusted.reset_index(drop=True)
    frame = adjusted[["ticker", "date", "close", "adj_close"]].copy()
    frame["warm_up"] = frame.groupby("ticker").cumcount() < WARMUP_SESSIONS
    parts = [compute_indicators(rows) for _, rows in adjusted.groupby("ticker", sort=False)]
    indicators = pd.concat(parts) if parts else pd.DataFrame(columns=list(FEATURE_COLUMNS))
    frame[list(FEATURE_COLUMNS)] = indicators.reindex(frame.index)[list(FEATURE_COLUMNS)]
    frame.loc[frame["warm_up"], list(FEATURE_COLUMNS)] = np.nan
    scales = [compute_scales(rows) for _, rows in adjusted.groupby("ticker", sort=False)]
    scales = pd.concat(scales) if scales else pd.DataFrame(columns=list(SCALE_COLUMNS))
    frame[list(SCALE_COLUMNS)] = scales.reindex(frame.index)[list(SCALE_COLUMNS)]
    frame["label"] = make_label(frame) if len(frame) else pd.Series(dtype=float)
    return frame


@cache
def _pandas_ta():
    """pandas-ta, imported on first use: it loads numba (slow), which readers of stored
    features (the dashboard) never need."""
    # pandas-ta 0.4 sets a pandas option that pandas 3 deprecated, at import: nothing to act on.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pandas_ta

    return pandas_ta


def compute_indicators(rows: pd.DataFrame) -> pd.DataFrame:
    """Every feature of one ticker's adjusted rows (sorted by date), each at most looking back."""
    if len(rows) < WARMUP_SESSIONS:  # pandas-ta returns None when a window exceeds the data
        return pd.DataFrame(np.nan, index=rows.index, columns=list(FEATURE_COLUMNS))
    ta = _pandas_ta()
    close, high, low = rows["adj_close"], rows["adj_high"], rows["adj_low"]
    log_close = np.log(close)
    ret_1d = log_close.diff()
    macd = ta.macd(close, fast=12, slow=26, signal=9, talib=False)
    bands = ta.bbands(close, length=20, lower_std=2, upper_std=2, talib=False)
    features = {
        "ret_1d": ret_1d,
        "ret_5d": log_close.diff(5),
        "ret_20d": log_close.diff(20),
        "vol_5d": ret_1d.rolling(5).std(),
        "vol_20d": ret_1d.rolling(20).std(),
        **{f"sma_{n}_ratio": close / ta.sma(close, length=n, talib=False) - 1 for n in (5, 20, 50)},
        # 0/0 when the price never moved: no gains and no losses is a neutral RSI.
        "rsi_14": ta.rsi(close, length=14, talib=False).fillna(50.0),
        "macd_12_26": _pick(macd, "MACD_") / close,
        "macd_signal_9": _pick(macd, "MACDs_") / close,
        "macd_hist_9": _pick(macd, "MACDh_") / close,
        "bb_pctb_20": compute_percent_b(close, _pick(bands, "BBL_"), _pick(bands, "BBU_")),
        "atr_14": ta.atr(high, low, close, length=14, talib=False) / close,
        "volume_z_20d": compute_zscore(np.log1p(rows["adj_volume"]), 20),
    }
    return pd.DataFrame(features, index=rows.index).replace([np.inf, -np.inf], np.nan)


def compute_percent_b(close: pd.Series, lower: pd.Series, upper: pd.Series) -> pd.Series:
    """Bollinger %B; 0.5 (the middle) when the bands have collapsed on constant prices."""
    width = upper - lower
    flat = width <= TINY * close.abs()
    return ((close - lower) / width.mask(flat)).mask(flat & width.notna(), 0.5)


def compute_zscore(values: pd.Series, window: int) -> pd.Series:
    """Rolling z-score over `window` rows (current included); 0 when the window has no spread."""
    mean = values.rolling(window).mean()
    std = values.rolling(window).std()
    flat = std <= TINY
    return ((values - mean) / std.mask(flat)).mask(flat, 0.0)


def _pick(frame: pd.DataFrame, prefix: str) -> pd.Series:
    return frame[next(column for column in frame.columns if column.startswith(prefix))]


def build_features(
    prices: pd.DataFrame, tickers: list[str], as_of
) -> tuple[pd.DataFrame, dict[str, str]]:
    """make_features on prices up to `as_of`, for the tickers that have a price on `as_of`.

    Rows after the as-of date are dropped first, so nothing computed here can see them. A ticker
    with no price on the as-of session fails with the reason: predicting from an older row would
    stamp a stale forecast with the wrong session.
    """
    as_of = pd.Timestamp(as_of)
    prices = prices[prices["ticker"].isin(tickers) & (prices["date"] <= as_of)]
    last = prices.groupby("ticker")["date"].max()
    failures = {}
    for ticker in tickers:
        if ticker not in last.index:
            failures[ticker] = f"{ticker} has no stored prices up to {as_of.date()}: ingest it"
        elif last[ticker] != as_of:
            failures[ticker] = (
                f"{ticker} has no price for the as-of session {as_of.date()} (last stored "
                f"{last[ticker].date()}): its source has not published it, ingest again later"
            )
    kept = prices[~prices["ticker"].isin(failures)]
    return make_features(kept), failures
