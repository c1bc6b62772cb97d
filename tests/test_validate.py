"""Validation rejects a ticker's rows with a one-line reason and lets the others through."""

from __future__ import annotations

import pandas as pd
import pytest

from stockcast.validate import validate_prices


def _rows(ticker="AAPL", n=4):
    return pd.DataFrame(
        {
            "ticker": ticker,
            "date": pd.bdate_range("2013-02-25", periods=n),
            "open": 10.0,
            "high": 11.0,
            "low": 9.0,
            "close": 10.5,
            "adj_close": 10.5,
            "volume": 1000.0,
            "dividends": 0.0,
            "stock_splits": 0.0,
        }
    )


def _with(column, value, row=2):
    rows = _rows()
    rows[column] = rows[column].astype(object)
    rows.loc[row, column] = value
    return pd.concat([rows, _rows("MSFT")], ignore_index=True)


def test_valid_rows_pass_untouched():
    prices = pd.concat([_rows(), _rows("MSFT")], ignore_index=True)
    valid, failures = validate_prices(prices)
    assert failures == {}
    pd.testing.assert_frame_equal(valid, prices)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("close", "abc", "AAPL has a non-numeric close on 2013-02-27 ('abc')"),
        ("close", None, "AAPL has a missing close on 2013-02-27"),
        ("close", -1.0, "AAPL has a non-positive close (-1.0) on 2013-02-27"),
        ("low", 0.0, "AAPL has a non-positive low"),
        ("high", 10.2, "AAPL has high/low inconsistent with open/close on 2013-02-27"),
        ("low", 10.4, "AAPL has high/low inconsistent with open/close on 2013-02-27"),
        ("volume", -5.0, "AAPL has a negative volume on 2013-02-27"),
    ],
)
def test_a_bad_value_fails_its_ticker_only(column, value, expected):
    valid, failures = validate_prices(_with(column, value))
    assert list(failures) == ["AAPL"]
    assert failures["AAPL"].startswith(expected)
    assert "\n" not in failures["AAPL"]
    assert valid["ticker"].unique().tolist() == ["MSFT"]


def test_duplicate_dates_are_rejected():
    rows = _rows()
    rows.loc[3, "date"] = rows.loc[2, "date"]
    _, failures = validate_prices(rows)
    assert failures["AAPL"] == (
        "AAPL has 1 duplicated date(s), first 2013-02-27: keep one row per session"
    )


def test_missing_columns_fail_every_ticker():
    _, failures = validate_prices(_rows().drop(columns=["high", "low"]))
    assert failures == {"AAPL": "price rows are missing columns high, low"}


def test_sample_prices_are_valid(sample_prices):
    valid, failures = validate_prices(sample_prices)
    assert failures == {}
    assert len(valid) == len(sample_prices)
