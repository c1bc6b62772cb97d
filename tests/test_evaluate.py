"""evaluate.py: scoring against true closes, rolling summaries beside naive, drop alerts."""

import numpy as np
import pandas as pd
import pytest
from synthetic import make_prices

from stockcast.backfill import replay
from stockcast.evaluate import (
    ALERT_COLUMNS,
    EVAL_COLUMNS,
    SUMMARY_COLUMNS,
    add_as_of_close,
    detect_drops,
    score_predictions,
    summarize,
)
from stockcast.features import make_features
from stockcast.predict import to_price_rows
from stockcast.train import TrainSettings


def make_history(n_days=30, ridge_error=0.0, champion_every=2):
    """Closes rising by 1 a day; naive says flat; ridge is off by `ridge_error` (relative)."""
    days = pd.bdate_range("2021-01-04", periods=n_days + 1)
    prices = pd.DataFrame({"ticker": "AAA", "date": days, "close": 100.0 + np.arange(n_days + 1)})
    preds = []
    for i in range(n_days):
        as_of_close, true_close = prices["close"].iloc[i], prices["close"].iloc[i + 1]
        ridge_close = true_close * (1 + ridge_error)
        for model, close in (("naive", as_of_close), ("ridge", ridge_close)):
            preds.append(
                {"ticker": "AAA", "as_of_date": days[i], "target_date": days[i + 1],
                 "model": model, "pred_close": close, "pred_lower": close - 1.5,
                 "pred_upper": close + 1.5,
                 "is_champion": (model == "ridge") == (i % champion_every == 0)}
            )  # fmt: skip
    return prices, pd.DataFrame(preds)


def test_score_predictions_against_the_as_traded_close():
    prices, preds = make_history(3)
    preds.loc[0, ["pred_lower", "pred_upper"]] = np.nan
    late = preds.iloc[[0]].assign(target_date=pd.Timestamp("2030-01-01"))  # not closed yet
    evals = score_predictions(pd.concat([preds, late]), prices)
    assert list(evals.columns) == list(EVAL_COLUMNS) and len(evals) == 6
    naive = evals[evals["model"] == "naive"].iloc[1]
    assert naive["true_close"] == 102.0 and naive["abs_error"] == 1.0
    assert naive["pct_error"] == pytest.approx(100 / 102)
    assert evals["inside_interval"].iloc[0] is None  # no interval: unknown, not a miss
    assert evals["inside_interval"].iloc[1:].astype(bool).all()
    summary = summarize(add_as_of_close(evals.merge(preds), prices), windows=(5,))
    assert summary.set_index("model").loc["naive", "coverage"] == 1.0  # over the 2 known


def test_summarize_scores_models_and_the_served_champion_beside_naive():
    prices, preds = make_history(30)
    evals = score_predictions(preds, prices)
    summary = summarize(evals, add_as_of_close(preds, prices), windows=(20, 60))
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    rows = summary.set_index(["model", "window"])
    assert rows.loc[("naive", 20), "n"] == 20 and rows.loc[("naive", 60), "n"] == 30
    assert rows.loc[("naive", 20), "rmse"] == pytest.approx(1.0)
    assert rows.loc[("ridge", 20), "rmse"] == 0 and rows.loc[("ridge", 20), "rmse_ratio"] == 0
    assert rows.loc[("ridge", 20), "direction_acc"] == 1.0
    assert np.isnan(rows.loc[("naive", 20), "direction_acc"])
    assert rows.loc[("champion", 60), "naive_served"] == pytest.approx(0.5)
    assert rows.loc[("champion", 60), "rmse"] == pytest.approx(np.sqrt(0.5))
    assert rows.loc[("ridge", 60), "coverage"] == 1.0


def test_detect_drops_flags_a_champion_worse_than_naive():
    prices, preds = make_history(30, ridge_error=0.011, champion_every=1)  # ridge always served
    summary = summarize(score_predictions(preds, prices), add_as_of_close(preds, prices))
    alerts = detect_drops(summary, margin=0.05)
    assert list(alerts.columns) == list(ALERT_COLUMNS)
    assert alerts["ticker"].tolist() == ["AAA"] and alerts["ratio"].iloc[0] > 1.05
    assert "retune AAA" in alerts["message"].iloc[0]
    assert detect_drops(summary, margin=0.5).empty
    assert detect_drops(summary, min_sessions=25).empty  # the 20-session window holds 20


def test_a_served_naive_never_raises_an_alert():
    prices, preds = make_history(30, ridge_error=0.05, champion_every=10**6)
    preds["is_champion"] = preds["model"] == "naive"
    summary = summarize(score_predictions(preds, prices), add_as_of_close(preds, prices))
    assert detect_drops(summary).empty


def test_missing_columns_are_key_errors():
    prices, preds = make_history(3)
    with pytest.raises(KeyError, match="pred_close"):
        score_predictions(preds.drop(columns=["pred_close"]), prices)
    with pytest.raises(KeyError, match="as_of_close"):
        summarize(score_predictions(preds, prices), preds)


def test_replayed_forecasts_score_end_to_end():
    prices = make_prices(330, "AAA", seed=5, split_at=200)
    days = prices["date"]
    settings = TrainSettings(n_splits=3, train_window=300, min_train_rows=150)
    fast = {"xgboost": {"n_estimators": 30}}
    forecasts, failures = replay(
        make_features(prices), lambda t, d: fast, days.iloc[270], days.iloc[-2], settings
    )
    preds = to_price_rows(forecasts, prices)
    summary = summarize(score_predictions(preds, prices), add_as_of_close(preds, prices))
    assert not failures and len(preds) == 5 * 59  # naive, ar, ridge, xgboost and the blend
    champion = summary.set_index(["model", "window"]).loc[("champion", 60)]
    assert champion["n"] == 59 and 0.7 <= champion["coverage"] <= 1.0
