"""train.py: scores, the serve rule, fit_ticker and the forecasts it hands to predict."""

import numpy as np
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeRegressor
from synthetic import labelled, make_panel, make_prices

from stockcast.errors import BadInput
from stockcast.features import make_features
from stockcast.forecaster import time_folds, walk_forward
from stockcast.models import NaiveForecast, make_model
from stockcast.train import (
    TrainSettings,
    diebold_mariano,
    fit_ticker,
    fit_tickers,
    forecast_next,
    forecast_tickers,
    score_candidates,
    select_champion,
)

FAST = {"xgboost": {"n_estimators": 30}}
SMALL = TrainSettings(n_splits=3, train_window=300, min_train_rows=150)


def test_score_candidates_on_known_numbers():
    oos = pd.DataFrame(
        {
            "date": pd.date_range("2020-01-01", periods=6),
            "fold": [0, 0, 0, 1, 1, 1],
            "y_true": [1.0, -1.0, 1.0, -1.0, 1.0, -1.0],
            "naive": 0.0,
            "half": [0.5, -0.5, 0.5, -0.5, 0.5, -0.5],
        }
    )
    scores = score_candidates(oos).set_index("model")
    assert scores.loc["naive", "rmse"] == pytest.approx(1.0)
    assert scores.loc["half", "rmse"] == pytest.approx(0.5)
    assert scores.loc["half", "rmse_ratio"] == pytest.approx(0.5)
    assert scores.loc["half", "folds_won"] == 1.0 and scores.loc["half", "direction_acc"] == 1.0
    assert np.isnan(scores.loc["naive", "direction_acc"])  # naive makes no directional call
    assert scores.loc["naive", "rmse_ratio"] == 1.0


def test_diebold_mariano_separates_better_from_worse_forecasts():
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    signal = y + rng.normal(0, 0.2, 400)  # a forecast with real information about y
    noise = rng.normal(0, 0.5, 400)  # a forecast uncorrelated with y
    _, p_good = diebold_mariano(y, y - 0.8 * signal)
    stat, p_bad = diebold_mariano(y, y - noise)
    assert p_good < 1e-6 and p_bad > 0.99 and stat < 0
    assert np.isnan(diebold_mariano(y, y)[1])  # identical forecasts are no evidence


def scores_for(folds_won, dm_pvalue, rmse=0.9):
    return pd.DataFrame(
        {
            "model": ["naive", "ridge", "xgboost"],
            "n_folds": 5,
            "rmse": [1.0, rmse, 0.95],
            "rmse_ratio": [1.0, rmse, 0.95],
            "folds_won": [np.nan, folds_won, 0.8],
            "dm_pvalue": [np.nan, dm_pvalue, 0.2],
        }
    )


def test_select_champion_applies_the_rule_and_says_why():
    champion, reason = select_champion(scores_for(1.0, 0.001))
    assert champion == "ridge" and "replaces naive" in reason
    champion, reason = select_champion(scores_for(1.0, 0.04))  # 0.04 > 0.05 / 2 challengers
    assert champion == "naive" and reason.startswith("naive served")
    assert select_champion(scores_for(1.0, 0.04), {"method": "folds"})[0] == "ridge"
    assert select_champion(scores_for(0.6, 0.001), {"method": "dm"})[0] == "ridge"
    assert select_champion(scores_for(0.6, 0.001), {"method": "folds"})[0] == "xgboost"
    with pytest.raises(BadInput, match="serve rule"):
        select_champion(scores_for(1.0, 0.001), {"method": "vibes"})


def test_an_overfit_model_that_wins_in_sample_is_not_served(walk_features):
    X, y = labelled(walk_features)
    tree = DecisionTreeRegressor(random_state=0)
    in_sample_rmse = np.sqrt(np.mean((y - tree.fit(X, y).predict(X)) ** 2))
    assert in_sample_rmse < 0.1 * np.sqrt(np.mean(y**2))  # in-sample it crushes naive
    oos = walk_forward(X, y, {"naive": NaiveForecast(), "tree": tree}, time_folds(len(X), 4))
    scores = score_candidates(oos)
    assert scores.set_index("model").loc["tree", "rmse_ratio"] > 1
    for method in ("folds", "dm", "both"):
        assert select_champion(scores, {"method": method})[0] == "naive"


def test_on_random_walks_the_serve_rule_keeps_naive():
    champions = [
        fit_ticker(make_features(make_prices(450, seed=seed)), FAST).champion for seed in range(6)
    ]
    assert champions.count("naive") >= 5


def test_a_real_signal_is_served_by_the_blend_or_replaces_naive():
    features = make_features(make_prices(500, seed=0, phi=0.5))
    trained = fit_ticker(features, FAST)
    assert trained.champion == "blend", trained.reason
    weights = trained.scores.set_index("model")["weight"]
    assert 0.5 < 1 - weights["naive"] <= 1 and weights.sum() == pytest.approx(1.0)
    assert np.isnan(weights["blend"])  # the blend is the combination, not a part of it
    switch = TrainSettings(serve_rule={"method": "both"})
    trained = fit_ticker(features, FAST, switch)
    assert trained.champion in ("ar", "ridge", "xgboost"), trained.reason
    assert "blend" not in trained.forecasters


def test_fit_ticker_scores_selects_and_fits_every_candidate(walk_features):
    trained = fit_ticker(walk_features, FAST, SMALL)
    assert trained.as_of_date == walk_features["date"].iloc[-1]
    assert set(trained.forecasters) == {"naive", "ar", "ridge", "xgboost", "blend"}
    assert trained.n_train == 300 and not trained.naive_only
    assert list(trained.scores["model"]) == ["naive", "ar", "ridge", "xgboost", "blend"]
    assert trained.champion in trained.forecasters and trained.reason
    for forecaster in trained.forecasters.values():
        lower, upper = forecaster.bounds_
        assert lower < 0 < upper
    forecast = forecast_next(trained, walk_features.iloc[-1])
    assert list(forecast.columns) == [
        "ticker", "as_of_date", "model", "pred_return", "lower_return", "upper_return",
        "is_champion",
    ]  # fmt: skip
    assert forecast["is_champion"].sum() == 1
    assert (forecast["lower_return"] < forecast["pred_return"]).all()
    assert (forecast["pred_return"] < forecast["upper_return"]).all()


def test_fit_ticker_never_trains_on_the_as_of_label(walk_features):
    leaked = walk_features.copy()
    leaked.loc[leaked.index[-1], "label"] = 5.0  # as if tomorrow's return were known
    honest = fit_ticker(walk_features, FAST, SMALL)
    cheating = fit_ticker(leaked, FAST, SMALL)
    row = walk_features.iloc[[-1]]
    assert forecast_next(honest, row).equals(forecast_next(cheating, row))


def test_too_little_history_serves_naive_only():
    features = make_features(make_prices(200))
    trained = fit_ticker(features, FAST)
    assert trained.naive_only and list(trained.forecasters) == ["naive"]
    assert trained.reason == "only 139 labelled sessions (need 250): serving naive"
    forecast = forecast_next(trained, features.iloc[-1])
    assert forecast["model"].tolist() == ["naive"] and forecast["is_champion"].all()
    assert np.isfinite(forecast[["lower_return", "upper_return"]]).all().all()
    lower, upper = fit_ticker(make_features(make_prices(64))).forecasters["naive"].bounds_
    assert lower < 0 < upper  # from the 63 realized returns, warm-up included
    assert np.isnan(fit_ticker(make_features(make_prices(10))).forecasters["naive"].bounds_).all()


def test_constant_prices_still_forecast_finite_values():
    features = make_features(make_prices(420, constant=True))
    trained = fit_ticker(features, FAST)
    forecast = forecast_next(trained, features.iloc[-1])
    assert trained.champion == "naive" and len(forecast) == 5
    assert np.isfinite(forecast[["pred_return", "lower_return", "upper_return"]]).all().all()


def test_fit_ticker_needs_its_columns(walk_features):
    with pytest.raises(KeyError, match="warm_up"):
        fit_ticker(walk_features.drop(columns=["warm_up"]))


def test_fit_tickers_records_failures_and_forecasts_the_rest():
    features = make_features(make_panel(("AAA", "BBB"), n=260))
    bad = {"BBB": {"ridge": {"not_a_param": 1}}}
    trained, failures = fit_tickers(features, {**bad, "AAA": FAST}, SMALL)
    assert list(trained) == ["AAA"] and "not_a_param" in failures["BBB"]
    forecasts = forecast_tickers(trained, features)
    assert set(forecasts["ticker"]) == {"AAA"} and len(forecasts) == 6  # and the pooled one


def test_make_model_is_what_fit_ticker_uses():
    assert isinstance(make_model("naive"), NaiveForecast)


@pytest.mark.parametrize(
    "method", ["split", "garman_klass", "parkinson", "yang_zhang", "close_to_close"]
)
def test_every_interval_method_trains_and_forecasts(walk_features, method):
    """close_to_close scales by vol_20d, a model feature too: both uses must coexist."""
    settings = TrainSettings(
        n_splits=3, train_window=300, min_train_rows=150, interval_method=method
    )
    trained = fit_ticker(walk_features, {**FAST, "xgboost": {"n_estimators": 5}}, settings)
    forecast = forecast_next(trained, walk_features.iloc[-3:])
    assert (forecast["lower_return"] < forecast["pred_return"]).all()
    assert (forecast["pred_return"] < forecast["upper_return"]).all()
    widths = (forecast["upper_return"] - forecast["lower_return"]).round(12)
    per_model = widths.groupby(forecast["model"]).nunique()
    assert (per_model == 1).all() == (method == "split")  # only split keeps a constant width
