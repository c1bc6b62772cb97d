"""The candidate models: a registry from candidate name to a factory of unfitted estimators.

Every candidate predicts the next-session log return; `naive` predicts zero (tomorrow's close is
today's); `ar` regresses it on the last one (AR(1)), the textbook model of daily-return
autocorrelation. Warm-up rows are dropped before training (see `train.py`); the ridge pipeline still
imputes medians, fitted on the training rows only, for a stray NaN feature (zero volume, say),
and XGBoost handles NaN natively.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from xgboost import XGBRegressor

from stockcast.errors import BadInput
from stockcast.features import FEATURE_COLUMNS

DEFAULT_PARAMS: dict[str, dict] = {
    "naive": {},
    "ar": {},
    "ridge": {"alpha": 100.0},
    # The pooled ridge (pooled.py) learns from every ticker's rows: many more than one ticker's.
    "pooled": {"alpha": 1000.0},
    "xgboost": {
        "n_estimators": 200,
        "max_depth": 3,
        "learning_rate": 0.03,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "min_child_weight": 20,
        "reg_lambda": 1.0,
    },
}
# Fixed for reproducible runs; tuned params cannot override them. One thread: on ~1000 rows a
# second thread saves ~20 % alone, but OpenMP threads spin-wait against any other busy process
# (a parallel test run, a notebook kernel) and fits then take 3-6x longer.
XGBOOST_THREADS = 1
XGBOOST_FIXED = {
    "n_jobs": XGBOOST_THREADS, "tree_method": "hist", "random_state": 0, "verbosity": 0,
}  # fmt: skip


class NaiveForecast(RegressorMixin, BaseEstimator):
    """The random-walk baseline: a zero log return, i.e. tomorrow's close equals today's."""

    def fit(self, X, y=None):
        self.n_features_in_ = np.shape(X)[1]
        return self

    def predict(self, X):
        return np.zeros(len(X))


def make_naive(params: dict) -> NaiveForecast:
    if params:
        raise ValueError(f"naive takes no parameters, got {sorted(params)}")
    return NaiveForecast()


def make_ridge(params: dict, impute: str = "median") -> Pipeline:
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy=impute, keep_empty_features=True)),
            ("scale", StandardScaler()),
            ("model", Ridge(**params)),
        ]
    )


def make_pooled(params: dict) -> Pipeline:
    """The ridge, imputing a stray NaN by the mean: the median of ~500,000 pooled rows (numpy's
    masked median sorts them) took 0.7 s of each 1 s refit at 500 tickers. Rows without NaN,
    nearly all after the warm-up, are fitted exactly as by the median version."""
    return make_ridge(params, impute="mean")


def as_array(X) -> np.ndarray:
    """The feature values without their names (a frame's rows, as floats)."""
    return np.asarray(X, dtype=float)


def make_xgboost(params: dict) -> Pipeline:
    """XGBoost fed arrays: given a frame, it checks the feature names at every boosting round
    (Python, not trees). Same predictions; measured 3 % off a ticker's fit, 7 % off its tuning."""
    return Pipeline(
        [
            ("array", FunctionTransformer(as_array)),
            ("model", XGBRegressor(**{**params, **XGBOOST_FIXED})),
        ]
    )


def last_return(X) -> np.ndarray:
    """The ret_1d column alone, as a one-column array."""
    return as_array(X)[:, [FEATURE_COLUMNS.index("ret_1d")]]


def make_ar(params: dict) -> Pipeline:
    """AR(1): least squares of the next log return on the last one, with an intercept. Two
    parameters against the ridge's sixteen: where returns are autocorrelated, it pays about
    2/n of the return variance in estimation noise where the ridge pays about 16/n."""
    return Pipeline(
        [
            ("last_return", FunctionTransformer(last_return)),
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("model", LinearRegression(**params)),
        ]
    )


MODELS: dict[str, Callable[[dict], BaseEstimator]] = {
    "naive": make_naive,
    "ar": make_ar,
    "ridge": make_ridge,
    "xgboost": make_xgboost,
    "pooled": make_pooled,
}


def make_model(name: str, params: dict | None = None) -> BaseEstimator:
    """An unfitted estimator for candidate `name`: DEFAULT_PARAMS overridden by `params`."""
    if name not in MODELS:
        raise BadInput(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
    return MODELS[name]({**DEFAULT_PARAMS[name], **(params or {})})
