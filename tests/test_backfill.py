"""backfill.py: the replay never sees the future, collects failures, summarizes what was served."""

import pandas as pd
from synthetic import make_panel, perturb_after

from stockcast.backfill import replay, summarize_replay
from stockcast.features import make_features
from stockcast.train import TrainSettings

FAST = {"xgboost": {"n_estimators": 30}}
SMALL = TrainSettings(n_splits=3, train_window=300, min_train_rows=150, retrain_every=10)
RARE = TrainSettings(n_splits=3, train_window=300, min_train_rows=150, retrain_every=20)


def test_replay_never_sees_the_future():
    prices = make_panel(("AAA", "BBB"), n=330)
    days = prices.loc[prices["ticker"] == "AAA", "date"]
    start, cut, end = days.iloc[300], days.iloc[314], days.iloc[-1]
    params_at = lambda ticker, day: FAST  # noqa: E731
    before, failures = replay(make_features(prices), params_at, start, end, SMALL)
    after, _ = replay(make_features(perturb_after(prices, cut)), params_at, start, end, SMALL)
    assert not failures
    known = before["as_of_date"] <= cut
    assert known.sum() == 2 * 15 * 6 and (~known).any()  # naive, ar, ridge, xgboost, pooled, blend
    pd.testing.assert_frame_equal(before[known], after[known])
    assert not before[~known].equals(after[~known])
    assert (before["trained_as_of"] <= before["as_of_date"]).all()
    assert sorted(before["trained_as_of"].unique()) == [
        days.iloc[300],
        days.iloc[310],
        days.iloc[320],
    ]
    assert (before.groupby(["ticker", "as_of_date"])["is_champion"].sum() == 1).all()


def test_replay_collects_per_ticker_failures():
    features = make_features(make_panel(("AAA", "BBB"), n=260))
    days = features["date"].drop_duplicates().sort_values()
    params_at = lambda ticker, day: {"ridge": {"bogus": 1}} if ticker == "BBB" else FAST  # noqa: E731
    forecasts, failures = replay(features, params_at, days.iloc[-3], days.iloc[-1], RARE)
    assert set(forecasts["ticker"]) == {"AAA"} and list(failures) == ["BBB"]


def test_summarize_replay_counts_retrains_and_naive_share():
    features = make_features(make_panel(("AAA",), n=300))
    days = features["date"].drop_duplicates().sort_values()
    forecasts, _ = replay(features, lambda t, d: FAST, days.iloc[-25], days.iloc[-1], SMALL)
    summary = summarize_replay(forecasts)
    assert summary.loc["AAA", "sessions"] == 25
    assert summary.loc["AAA", "retrains"] == 3
    served = summary.filter(like="served_").loc["AAA"]
    assert abs(served.sum() - 1) < 1e-9
    assert 0 <= summary.loc["AAA", "naive_weight"] <= 1
    shares = forecasts.groupby("as_of_date")["served_weight"].sum()  # the blend's is NaN
    assert (abs(shares - 1) < 1e-9).all()
