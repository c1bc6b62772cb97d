"""predict.py: target sessions from the calendar, returns to as-traded closes, one champion."""

import numpy as np
import pandas as pd
import pytest

from stockcast.predict import PRED_COLUMNS, target_sessions, to_price_rows


def make_forecasts(champion="ridge") -> pd.DataFrame:
    as_of = pd.Timestamp("2013-03-28")  # Thursday before Good Friday
    return pd.DataFrame(
        {
            "ticker": "AAA",
            "as_of_date": as_of,
            "model": ["naive", "ridge", "xgboost"],
            "pred_return": [0.0, 0.01, -0.02],
            "lower_return": [-0.03, -0.02, -0.05],
            "upper_return": [0.03, 0.04, 0.01],
            "is_champion": [m == champion for m in ("naive", "ridge", "xgboost")],
            "trained_as_of": pd.Timestamp("2013-03-01"),
        }
    )


CLOSES = pd.DataFrame({"ticker": ["AAA"], "date": [pd.Timestamp("2013-03-28")], "close": [200.0]})


def test_target_sessions_skip_weekends_and_holidays():
    days = ["2013-03-01", "2013-03-28", "2012-12-24", "2013-03-04"]
    expected = ["2013-03-04", "2013-04-01", "2012-12-26", "2013-03-05"]
    assert list(target_sessions("AAA", days)) == list(pd.DatetimeIndex(expected))


def test_targets_follow_each_tickers_exchange_calendar():
    days = ["2013-02-15", "2013-03-28"]  # before Presidents' Day (New York) and Easter Monday
    assert list(target_sessions("AAA", days)) == list(
        pd.DatetimeIndex(["2013-02-19", "2013-04-01"])
    )
    assert list(target_sessions("VOD.L", days)) == list(
        pd.DatetimeIndex(["2013-02-18", "2013-04-02"])
    )
    both = pd.concat([make_forecasts(), make_forecasts().assign(ticker="VOD.L")])
    closes = pd.concat([CLOSES, CLOSES.assign(ticker="VOD.L")])
    targets = to_price_rows(both, closes).groupby("ticker")["target_date"].unique().map(list)
    assert targets.to_dict() == {
        "AAA": [pd.Timestamp("2013-04-01")],
        "VOD.L": [pd.Timestamp("2013-04-02")],
    }


def test_to_price_rows_turns_returns_into_as_traded_closes():
    rows = to_price_rows(make_forecasts(), CLOSES)
    assert list(rows.columns) == [*PRED_COLUMNS, "trained_as_of"]
    assert (rows["target_date"] == pd.Timestamp("2013-04-01")).all()
    naive = rows.set_index("model").loc["naive"]
    assert naive["pred_close"] == 200.0  # naive: tomorrow's close is today's
    assert np.allclose(rows["pred_close"], 200.0 * np.exp([0.0, 0.01, -0.02]))
    assert (rows["pred_lower"] < rows["pred_close"]).all()
    assert (rows["pred_close"] < rows["pred_upper"]).all()
    assert rows["is_champion"].sum() == 1


def test_given_target_dates_are_used_as_they_are():
    targets = pd.DataFrame(
        {"ticker": ["AAA"], "as_of_date": [pd.Timestamp("2013-03-28")],
         "target_date": [pd.Timestamp("2013-04-02")]}
    )  # fmt: skip
    rows = to_price_rows(make_forecasts(), CLOSES, targets)
    assert (rows["target_date"] == pd.Timestamp("2013-04-02")).all()


def test_exactly_one_champion_per_target():
    two = make_forecasts()
    two["is_champion"] = [True, True, False]
    with pytest.raises(ValueError, match="exactly one champion"):
        to_price_rows(two, CLOSES)
    with pytest.raises(ValueError, match="exactly one champion"):
        to_price_rows(make_forecasts(champion="none"), CLOSES)


def test_missing_as_of_close_or_column_is_a_key_error():
    with pytest.raises(KeyError, match="no as-of close"):
        to_price_rows(make_forecasts(), CLOSES.assign(date=pd.Timestamp("2013-03-27")))
    with pytest.raises(KeyError, match="pred_return"):
        to_price_rows(make_forecasts().drop(columns=["pred_return"]), CLOSES)
