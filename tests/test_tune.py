"""tune.py: grid search by time-series CV RMSE, per-ticker tuning with failures recorded."""

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import ParameterGrid
from synthetic import make_prices

from stockcast.errors import NotEnoughHistory
from stockcast.features import make_features
from stockcast.forecaster import time_folds
from stockcast.models import make_model
from stockcast.settings import TrainSettings
from stockcast.tune import grid_search, select_labelled, tune_tickers


@pytest.fixture(scope="module")
def ar_features():
    """Returns with a strong AR(1) signal: a lightly regularised ridge should win."""
    return make_features(make_prices(400, "AAA", seed=0, phi=0.5))


def test_grid_search_ranks_every_grid_point_by_cv_rmse(ar_features):
    result = grid_search(ar_features, "ridge", {"alpha": [100.0, 1e7]}, TrainSettings(n_splits=4))
    assert len(result.table) == 2
    assert result.table["cv_rmse"].is_monotonic_increasing
    assert result.best_params == {"alpha": 100.0}  # 1e7 shrinks every prediction to zero
    assert result.cv_rmse == pytest.approx(result.table["cv_rmse"].iloc[0])


def test_grid_search_tunes_xgboost(ar_features):
    grid = {"n_estimators": [10, 30], "max_depth": [2]}
    result = grid_search(ar_features, "xgboost", grid, TrainSettings(n_splits=3, gap=1))
    assert result.best_params["n_estimators"] in (10, 30)
    assert np.isfinite(result.cv_rmse)


def test_a_boosting_grid_is_scored_from_one_fit_of_its_most_rounds(ar_features, monkeypatch):
    """The points that differ only in n_estimators share one fit per fold of the largest, and
    score exactly what fitting each of them alone scores."""
    from stockcast import tune

    grid = {"n_estimators": [10, 30], "max_depth": [2, 3], "learning_rate": [0.1]}
    settings = TrainSettings(n_splits=3)
    X, y = select_labelled(ar_features, settings.train_window)
    splits = list(time_folds(len(X), settings.n_splits).split(X))
    points = list(ParameterGrid(grid))
    one_by_one = []
    for params in points:
        fold_rmse = []
        for train_index, test_index in splits:
            model = make_model("xgboost", params).fit(X.iloc[train_index], y.iloc[train_index])
            errors = y.iloc[test_index].to_numpy() - model.predict(X.iloc[test_index])
            fold_rmse.append(np.sqrt(np.mean(errors**2)))
        one_by_one.append({"params": params, "cv_rmse": float(np.mean(fold_rmse)),
                           "cv_rmse_std": float(np.std(fold_rmse))})  # fmt: skip
    fitted = []
    real = tune.make_model
    monkeypatch.setattr(tune, "make_model", lambda name, p: fitted.append(p) or real(name, p))
    assert tune.score_grid(X, y, "xgboost", points, splits) == one_by_one
    assert len(fitted) == 2 * len(splits)  # one fit per fold and max_depth, not per point
    assert {p["n_estimators"] for p in fitted} == {30}


def test_grid_search_refuses_too_short_a_history():
    features = make_features(make_prices(120))
    with pytest.raises(NotEnoughHistory, match="labelled sessions"):
        grid_search(features, "ridge", {"alpha": [1.0]}, TrainSettings(n_splits=5))


def test_tune_tickers_skips_naive_and_records_per_ticker_failures(ar_features):
    short = make_features(make_prices(100, "BBB"))
    features = pd.concat([ar_features, short], ignore_index=True)
    grids = {"naive": {}, "ridge": {"alpha": [1.0, 100.0]}, "xgboost": {"n_estimators": [20]}}
    rows, failures = tune_tickers(features, grids, settings=TrainSettings(n_splits=3))
    assert list(rows.columns) == ["ticker", "model", "params", "cv_rmse", "n_rows"]
    assert set(rows["ticker"]) == {"AAA"} and set(rows["model"]) == {"ridge", "xgboost"}
    assert isinstance(rows["params"].iloc[0], dict)
    assert failures["BBB"].startswith("NotEnoughHistory")


def test_tuning_scores_the_window_and_folds_training_uses(ar_features):
    """The grid is scored on the last train_window rows with the training folds (gap 0): the
    same rows a ridge of that alpha is selected on in fit_ticker."""
    from stockcast.forecaster import time_folds, walk_forward
    from stockcast.models import make_model

    settings = TrainSettings(n_splits=3, train_window=200)
    result = grid_search(ar_features, "ridge", {"alpha": [1.0]}, settings)
    X, y = select_labelled(ar_features, settings.train_window)
    assert len(X) == 200
    oos = walk_forward(X, y, {"ridge": make_model("ridge", {"alpha": 1.0})}, time_folds(200, 3))
    fold_rmse = (oos["y_true"] - oos["ridge"]).pow(2).groupby(oos["fold"]).mean().pow(0.5)
    assert result.cv_rmse == pytest.approx(fold_rmse.mean())
