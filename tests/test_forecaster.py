"""forecaster.py: the shared walk-forward folds, conformal bounds, IntervalForecaster."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from synthetic import labelled

from stockcast.errors import BadInput
from stockcast.forecaster import (
    IntervalForecaster,
    conformal_bounds,
    scale_of,
    time_folds,
    walk_forward,
)
from stockcast.models import NaiveForecast, make_model


class PastOnly(RegressorMixin, BaseEstimator):
    """Fails the test if asked to predict a date that is not after everything it was fitted on."""

    def fit(self, X, y):
        self.last_seen_ = X.index.max()
        return self

    def predict(self, X):
        assert (X.index > self.last_seen_).all()
        return np.zeros(len(X))


def test_walk_forward_fits_each_fold_on_its_past_only(walk_features):
    X, y = labelled(walk_features)
    splitter = time_folds(len(X), n_splits=4, gap=2)
    oos = walk_forward(X, y, {"naive": NaiveForecast(), "past": PastOnly()}, splitter)
    assert list(oos.columns) == ["date", "fold", "y_true", "naive", "past"]
    assert oos["date"].is_monotonic_increasing and oos["date"].is_unique
    assert sorted(oos["fold"].unique()) == [0, 1, 2, 3]
    assert np.allclose(oos["y_true"], y.loc[oos["date"]])


def test_walk_forward_refuses_unlabelled_rows(walk_features):
    X, y = labelled(walk_features)
    with pytest.raises(ValueError, match="labelled rows"):
        walk_forward(X, y.where(y > 0), {"naive": NaiveForecast()}, time_folds(len(X), 3))


def test_time_folds_cover_the_second_half_in_consecutive_blocks():
    folds = list(time_folds(100, n_splits=5).split(np.zeros((100, 1))))
    assert [len(test) for _, test in folds] == [10] * 5
    assert folds[0][1][0] == 50 and folds[-1][1][-1] == 99
    for train, test in folds:
        assert train[-1] == test[0] - 1  # gap 0: trained up to the session before
    gapped = list(time_folds(100, n_splits=5, test_size=8, gap=2).split(np.zeros((100, 1))))
    assert all(train[-1] == test[0] - 3 and len(test) == 8 for train, test in gapped)


def test_conformal_bounds_cover_near_nominal_on_iid_data():
    rng = np.random.default_rng(0)
    hits = []
    for _ in range(1500):
        lower, upper = conformal_bounds(rng.standard_t(4, size=39), level=0.9)
        hits.append(lower <= rng.standard_t(4) <= upper)
    assert np.mean(hits) == pytest.approx(0.9, abs=0.025)
    residuals = np.arange(19.0)
    assert conformal_bounds(residuals, 0.9) == (0.0, 18.0)  # n=19: the extremes, exactly
    assert np.isnan(conformal_bounds(residuals[:9], 0.9)).all()  # too few for 90 %


def test_interval_forecaster_fits_and_predicts_return_and_bounds(walk_features):
    X, y = labelled(walk_features)
    oos = walk_forward(X, y, {"ridge": make_model("ridge")}, time_folds(len(X), 3))
    forecaster = IntervalForecaster(make_model("ridge"), level=0.8)
    assert forecaster.fit(X, y, oos["y_true"] - oos["ridge"]) is forecaster
    lower, upper = forecaster.bounds_
    assert (lower, upper) == conformal_bounds(oos["y_true"] - oos["ridge"], 0.8)
    forecast = forecaster.predict(X.tail(3)[list(reversed(X.columns))])  # by name, not position
    assert list(forecast.columns) == ["pred_return", "lower_return", "upper_return"]
    assert forecast.index.equals(X.tail(3).index)
    expected = make_model("ridge").fit(X, y).predict(X.tail(3))
    assert np.allclose(forecast["pred_return"], expected)
    assert np.allclose(forecast["lower_return"], expected + lower)
    assert np.allclose(forecast["upper_return"], expected + upper)


def test_interval_forecaster_leaves_its_estimator_unfitted(walk_features):
    X, y = labelled(walk_features)
    naive = NaiveForecast()
    fitted = IntervalForecaster(naive).fit(X, y, y)
    assert not hasattr(naive, "n_features_in_") and fitted.estimator_ is not naive
    assert (fitted.predict(X)["pred_return"] == 0).all()


def test_normalized_intervals_follow_the_volatility_regime():
    """Calm and stormy sessions (a known volatility): split conformal's constant band over-covers
    the calm and under-covers the storm; scaled by the volatility forecast, both near nominal."""
    rng = np.random.default_rng(3)
    n = 4000
    sigma = np.where(rng.random(n) < 0.5, 0.005, 0.03)
    residuals = sigma * rng.standard_t(5, n)
    calibration, test = slice(0, 500), slice(500, n)
    X = pd.DataFrame({"x": np.zeros(n), "vol": sigma})
    y = pd.Series(residuals)
    split = IntervalForecaster(NaiveForecast()).fit(X[calibration], y[calibration], y[calibration])
    scaled = IntervalForecaster(NaiveForecast(), scale_column="vol").fit(
        X[["x"]][calibration], y[calibration], y[calibration], X["vol"][calibration]
    )
    assert scaled.feature_names_ == ["x"]  # the scale need not be a model input
    assert scaled.input_columns_ == ["x", "vol"] and split.input_columns_ == split.feature_names_
    calm = sigma[test] < 0.01
    for forecaster, calm_range, storm_range in (
        (split, (0.99, 1.0), (0.0, 0.85)),
        (scaled, (0.87, 0.93), (0.87, 0.93)),
    ):
        band = forecaster.predict(X[test])
        inside = (band["lower_return"] <= y[test]) & (y[test] <= band["upper_return"])
        assert calm_range[0] <= inside[calm].mean() <= calm_range[1]
        assert storm_range[0] <= inside[~calm].mean() <= storm_range[1]
    with pytest.raises(ValueError, match="one scale per residual"):
        IntervalForecaster(NaiveForecast(), scale_column="vol").fit(X, y, y)


def test_a_zero_scale_gives_a_finite_band_and_an_unknown_method_one_line():
    X = pd.DataFrame({"x": np.zeros(30), "vol": 0.0})
    fitted = IntervalForecaster(NaiveForecast(), scale_column="vol").fit(
        X, X["x"], X["x"], X["vol"]
    )
    assert (fitted.predict(X)[["lower_return", "upper_return"]] == 0).all().all()
    assert scale_of("split") is None and scale_of("garman_klass") == "vol_gk_20d"
    with pytest.raises(BadInput, match="interval_method 'garch' is unknown: use one of split"):
        scale_of("garch")
