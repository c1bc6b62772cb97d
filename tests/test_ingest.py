"""Ingest decisions: the overlap window to fetch, and when a stored history is replaced whole."""

from __future__ import annotations

import pandas as pd

from stockcast import ingest


def _rows(ticker="AAPL", days=("2013-02-27", "2013-02-28", "2013-03-01"), adj=1.0, **events):
    frame = pd.DataFrame(
        {
            "ticker": ticker,
            "date": pd.to_datetime(list(days)),
            "close": 10.0,
            "adj_close": 10.0 * adj,
            "dividends": 0.0,
            "stock_splits": 0.0,
        }
    )
    for column, (day, value) in events.items():
        frame.loc[frame["date"] == pd.Timestamp(day), column] = value
    return frame


def _summary(**last):
    return pd.DataFrame({"ticker": list(last), "last_date": pd.to_datetime(list(last.values()))})


def test_fetch_starts_an_overlap_before_the_oldest_last_session():
    summary = _summary(AAPL="2013-03-01", MSFT="2013-02-28")
    assert ingest.fetch_start(summary, ["AAPL", "MSFT"], 14) == pd.Timestamp("2013-02-14")


def test_a_ticker_without_history_fetches_everything():
    assert ingest.fetch_start(_summary(AAPL="2013-03-01"), ["AAPL", "IBM"], 14) is None


def test_agreeing_overlap_is_not_a_refresh():
    assert ingest.find_refreshes(_rows(), _rows()) == []


def test_a_re_adjusted_history_is_refreshed_whole():
    fetched = _rows(adj=0.5)  # the provider re-adjusted (a new dividend or split upstream)
    assert ingest.find_refreshes(fetched, _rows()) == ["AAPL"]


def test_a_new_split_or_dividend_is_refreshed_whole():
    fetched = _rows(stock_splits=("2013-03-01", 2.0))
    assert ingest.find_refreshes(fetched, _rows()) == ["AAPL"]
    known = _rows(dividends=("2013-02-28", 0.5))
    assert ingest.find_refreshes(known, known) == []  # an event already stored changes nothing


def test_a_new_ticker_is_not_a_refresh():
    assert ingest.find_refreshes(_rows("IBM", adj=0.5), _rows()) == []


def test_replace_tickers_swaps_in_the_full_history():
    fetched = pd.concat([_rows(), _rows("MSFT")])
    full = _rows("MSFT", days=("2013-02-26", "2013-02-27", "2013-02-28", "2013-03-01"))
    merged = ingest.replace_tickers(fetched, full)
    assert merged.groupby("ticker").size().to_dict() == {"AAPL": 3, "MSFT": 4}


def test_summary_names_failures_and_rows_added():
    summary = pd.DataFrame(
        {
            "ticker": ["AAPL"],
            "first_date": pd.to_datetime(["2000-03-01"]),
            "last_date": pd.to_datetime(["2013-03-01"]),
            "rows": [3270],
        }
    )
    saved = pd.DataFrame({"ticker": ["AAPL"], "rows_added": [1], "refreshed": [False]})
    table = ingest.summarize(summary, saved, {"MSFT": "MSFT.csv is empty"}, ["AAPL", "MSFT"])
    assert table.set_index("ticker")["rows_added"].to_dict() == {"AAPL": 1, "MSFT": 0}
    assert table.set_index("ticker").loc["MSFT", "failure"] == "MSFT.csv is empty"
