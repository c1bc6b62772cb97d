"""A SYNTHETIC universe for the bench (real daily returns of the sample, block-resampled onto
made-up symbols, written as Yahoo CSV exports) and each ticker's in-process cost."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

SYNTHETIC_LABEL = (
    "SYNTHETIC: real daily returns of the bundled sample, block-resampled (20-session blocks) "
    "onto made-up symbols; not market data"
)
BLOCK = 20


def make_synthetic_universe(
    prices: pd.DataFrame, n_tickers: int, n_sessions: int, seed: int = 7
) -> dict[str, pd.DataFrame]:
    """Yahoo-export frames for SYN01.. built from resampled real returns of `prices`."""
    rng = np.random.default_rng(seed)
    dates = prices.loc[prices["ticker"] == "AAPL", "date"].sort_values().iloc[-n_sessions:]
    universe = {}
    sources = sorted(prices["ticker"].unique())
    for number in range(1, n_tickers + 1):
        source = prices[prices["ticker"] == sources[rng.integers(len(sources))]]
        source = source.sort_values("date").reset_index(drop=True)
        returns = np.log(source["adj_close"]).diff().to_numpy()[1:]
        starts = rng.integers(0, len(returns) - BLOCK, size=n_sessions // BLOCK + 1)
        picked = np.concatenate([np.arange(s, s + BLOCK) for s in starts])[:n_sessions]
        close = 50.0 * np.exp(np.cumsum(returns[picked]))
        day = source.iloc[picked + 1]  # the source day whose intraday shape is borrowed
        universe[f"SYN{number:02d}"] = pd.DataFrame(
            {
                "Date": dates.dt.strftime("%Y-%m-%d").to_numpy(),
                "Open": close * (day["open"] / day["close"]).to_numpy(),
                "High": close * (day["high"] / day["close"]).to_numpy(),
                "Low": close * (day["low"] / day["close"]).to_numpy(),
                "Close": close,
                "Adj Close": close,
                "Volume": day["volume"].to_numpy(),
            }
        ).round(4)
    return universe


def write_csvs(universe: dict[str, pd.DataFrame], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for ticker, frame in universe.items():
        frame.to_csv(folder / f"{ticker}.csv", index=False)
    return folder


def as_long_prices(universe: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The universe as the library's canonical long price frame."""
    prices = (
        pd.concat(frame.assign(ticker=ticker) for ticker, frame in universe.items())
        .rename(columns=str.lower)
        .rename(columns={"adj close": "adj_close"})
    )
    prices["date"] = pd.to_datetime(prices["date"])
    prices[["dividends", "stock_splits"]] = 0.0
    return prices


def measure_tickers(prices: pd.DataFrame) -> list[dict]:
    """Per ticker, in-process: features and training (walk-forward selection + final fits)."""
    from stockcast import features, train

    rows = []
    for ticker, one in prices.groupby("ticker", sort=True):
        tracemalloc.start()
        clock = time.perf_counter()
        table = features.make_features(one)
        features_s = time.perf_counter() - clock
        clock = time.perf_counter()
        train.fit_ticker(table, None, train.TrainSettings())
        fit_s = time.perf_counter() - clock
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        rows.append(
            {
                "ticker": ticker,
                "rows": len(one),
                "features_s": round(features_s, 3),
                "train_s": round(fit_s, 3),
                "peak_python_mb": round(peak, 1),
            }
        )
    return rows


def summarize(per_ticker: list[dict]) -> dict:
    frame = pd.DataFrame(per_ticker)
    return {
        column: {
            "median": round(float(frame[column].median()), 3),
            "p90": round(float(frame[column].quantile(0.9)), 3),
            "max": round(float(frame[column].max()), 3),
        }
        for column in ("features_s", "train_s", "peak_python_mb")
    }
