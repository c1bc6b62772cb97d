"""Decisions of the ingest stage: which window to fetch and which tickers to refresh whole.

A ticker's stored history is replaced whole when a fetch shows a split or dividend that the store
does not hold, or when fetched rows of the overlap window disagree with the stored ones (the
provider re-adjusted its history).
"""

from __future__ import annotations

import pandas as pd

# Relative difference above which an overlapping stored row counts as different.
TOLERANCE = 1e-6
COMPARED = ("close", "adj_close")


def fetch_start(
    summary: pd.DataFrame, tickers: list[str], overlap_days: int
) -> pd.Timestamp | None:
    """Where an incremental fetch starts: `overlap_days` before the oldest last stored session.

    None (fetch everything) when any ticker has no stored rows yet.
    """
    last = summary.set_index("ticker")["last_date"].reindex(tickers)
    if last.empty or last.isna().any():
        return None
    return pd.Timestamp(last.min()) - pd.Timedelta(days=overlap_days)


def _events(prices: pd.DataFrame) -> pd.DataFrame:
    has_event = (prices["stock_splits"].fillna(0) != 0) | (prices["dividends"].fillna(0) != 0)
    return prices.loc[has_event, ["ticker", "date", "dividends", "stock_splits"]]


def find_refreshes(fetched: pd.DataFrame, stored: pd.DataFrame) -> list[str]:
    """Tickers whose stored history must be replaced whole after this fetch.

    `stored` holds the stored rows from the fetch's first date on. A ticker with no stored rows
    is not a refresh: it is new.
    """
    stored_tickers = set(stored["ticker"])
    refresh = set()
    key = ["ticker", "date"]
    merged = fetched.merge(stored, on=key, how="inner", suffixes=("", "_stored"))
    for column in COMPARED:
        relative = (merged[column] - merged[f"{column}_stored"]).abs() / merged[f"{column}_stored"]
        refresh.update(merged.loc[relative > TOLERANCE, "ticker"])
    new_events = _events(fetched).merge(_events(stored), on=key, how="left", indicator=True)
    refresh.update(new_events.loc[new_events["_merge"] == "left_only", "ticker"])
    return sorted(refresh & stored_tickers)


def replace_tickers(fetched: pd.DataFrame, full: pd.DataFrame) -> pd.DataFrame:
    """The fetched rows with the tickers present in `full` replaced by their full history."""
    kept = fetched[~fetched["ticker"].isin(full["ticker"].unique())]
    return pd.concat([kept, full], ignore_index=True).sort_values(["ticker", "date"])


def summarize(
    summary: pd.DataFrame, saved: pd.DataFrame, failures: dict[str, str], tickers: list[str]
) -> pd.DataFrame:
    """Per requested ticker: first and last stored session, rows, rows added, failure."""
    table = pd.DataFrame({"ticker": tickers})
    table = table.merge(
        summary[["ticker", "first_date", "last_date", "rows"]], on="ticker", how="left"
    )
    table = table.merge(saved[["ticker", "rows_added", "refreshed"]], on="ticker", how="left")
    table["rows_added"] = table["rows_added"].fillna(0).astype(int)
    table["rows"] = table["rows"].fillna(0).astype(int)
    table["refreshed"] = table["refreshed"].fillna(False).astype(bool)
    table["failure"] = table["ticker"].map(failures).fillna("")
    return table
