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


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("close", float("inf"), "AAPL has an implausible close on 2013-02-27 (inf)"),
        ("close", 1e308, "AAPL has an implausible close on 2013-02-27 (1e+308)"),
        ("open", float("-inf"), "AAPL has an implausible open on 2013-02-27 (-inf)"),
        ("adj_close", 5e12, "AAPL has an implausible adj_close on 2013-02-27 (5000000000000.0)"),
        ("volume", float("inf"), "AAPL has a non-finite volume on 2013-02-27 (inf)"),
        ("volume", -5.0, "AAPL has a negative volume on 2013-02-27 (-5.0)"),
    ],
)
def test_an_infinite_or_absurd_value_fails_its_ticker_with_the_fix(column, value, expected):
    valid, failures = validate_prices(_with(column, value))
    assert list(failures) == ["AAPL"]
    assert failures["AAPL"].startswith(expected), failures["AAPL"]
    assert "fix the source data" in failures["AAPL"]
    assert "\n" not in failures["AAPL"]
    assert valid["ticker"].unique().tolist() == ["MSFT"]


@pytest.mark.parametrize("scale", [7.5e4, 2.6e8])
def test_the_dearest_real_quotes_pass(scale):
    """BRK-A trades near $750,000 and Bitcoin quoted in Vietnamese dong near 2.6e9: both real."""
    rows = _rows()
    rows[["open", "high", "low", "close", "adj_close"]] *= scale
    valid, failures = validate_prices(rows)
    assert failures == {} and len(valid) == len(rows)


def test_a_missing_volume_is_left_for_the_models_to_impute():
    _, failures = validate_prices(_with("volume", None))
    assert failures == {}


def test_rows_on_days_the_exchange_was_closed_fail_their_ticker():
    """Weekend or holiday rows mean the dates are not the exchange's sessions (a wrong date
    format, another market's calendar, a typo): the ticker is refused, not silently trimmed."""
    rows = _rows()
    rows.loc[3, "date"] = pd.Timestamp("2013-03-02")  # a Saturday
    holiday = _rows("MSFT", n=1).assign(date=pd.Timestamp("2013-02-18"))  # Presidents' Day
    valid, failures = validate_prices(pd.concat([rows, holiday, _rows("IBM")], ignore_index=True))
    assert failures == {
        "AAPL": "AAPL has 1 row(s) on days that are not XNYS sessions, first 2013-03-02 "
        "(Saturday): remove them, or check the dates are AAPL's exchange sessions",
        "MSFT": "MSFT has 1 row(s) on days that are not XNYS sessions, first 2013-02-18 "
        "(Monday): remove them, or check the dates are MSFT's exchange sessions",
    }
    assert valid["ticker"].unique().tolist() == ["IBM"]


def test_history_older_than_the_calendar_is_kept():
    """exchange_calendars starts in 1990: older rows (IBM's Yahoo history starts in 1962) cannot
    be checked against it and are kept as they are."""
    rows = _rows(n=3).assign(date=pd.to_datetime(["1989-12-29", "1990-01-02", "1990-01-03"]))
    valid, failures = validate_prices(rows)
    assert failures == {} and len(valid) == 3
