"""A fitted model of the next-session log return with its interval, and the walk-forward folds
that score it: the one fold scheme that training and tuning share.

`IntervalForecaster` follows scikit-learn: `fit` returns self, learned attributes end in `_`;
`predict` returns the return forecast and its bounds. The MLflow pyfunc wraps it unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import TimeSeriesSplit

FORECAST_FIELDS = ("pred_return", "lower_return", "upper_return")


def time_folds(n_rows: int, n_splits: int, test_size: int | None = None, gap: int = 0):
    """The walk-forward splitter: `n_splits` consecutive test blocks, each trained on all rows
    before it (less `gap`); test_size None means n_rows // (2 * n_splits), so the test blocks
    cover the second half of the rows."""
    test_size = test_size or max(n_rows // (2 * n_splits), 1)
    return TimeSeriesSplit(n_splits=n_splits, test_size=test_size, gap=gap)


def walk_forward(
    X: pd.DataFrame, y: pd.Series, estimators: dict[str, BaseEstimator], splitter
) -> pd.DataFrame:
    """Out-of-sample predictions (date, fold, y_true, one column per estimator); X is indexed by
    date and every fold's estimators are fresh clones fitted on that fold's past only."""
    if pd.isna(y).any():
        raise ValueError("walk_forward needs labelled rows only: drop rows whose label is NaN")
    folds = []
    for fold, (train_index, test_index) in enumerate(splitter.split(X)):
        X_train, y_train = X.iloc[train_index], y.iloc[train_index]
        X_test = X.iloc[test_index]
        part = {"date": X.index[test_index], "fold": fold, "y_true": y.iloc[test_index].to_numpy()}
        for name, estimator in estimators.items():
            part[name] = clone(estimator).fit(X_train, y_train).predict(X_test)
        folds.append(pd.DataFrame(part))
    return pd.concat(folds, ignore_index=True)


def conformal_bounds(residuals, level: float = 0.9) -> tuple[float, float]:
    """Split-conformal (lower, upper) offsets from out-of-sample residuals y_true - y_pred.

    Each tail gets (1 - level) / 2 with the finite-sample rank correction: the k-th smallest
    residual with k = floor((n+1) a/2) below and ceil((n+1)(1 - a/2)) above; NaN when n is too
    small for such a rank to exist.
    """
    if not 0 < level < 1:
        raise ValueError(f"interval level must lie strictly between 0 and 1, got {level}")
    ranked = np.sort(np.asarray(residuals, dtype=float))
    ranked = ranked[np.isfinite(ranked)]
    tail, n = (1 - level) / 2, ranked.size
    # The 1e-9 keeps float noise ((1 - 0.9) / 2 = 0.04999...) from shifting a rank by one.
    k_low = int(np.floor((n + 1) * tail + 1e-9))
    k_high = int(np.ceil((n + 1) * (1 - tail) - 1e-9))
    if k_low < 1 or k_high > n:
        return np.nan, np.nan
    return float(ranked[k_low - 1]), float(ranked[k_high - 1])


class IntervalForecaster(BaseEstimator):
    """A point model of the next-session log return and its split-conformal interval.

    fit(X, y, residuals): the estimator is refitted on (X, y); the interval's offsets come from
    `residuals`, its out-of-sample errors (y_true - y_pred) from the walk-forward folds, never
    in-sample ones. predict(X): pred_return, lower_return, upper_return, indexed like X.
    """

    def __init__(self, estimator: BaseEstimator, level: float = 0.9):
        self.estimator = estimator
        self.level = level

    def fit(self, X, y, residuals):
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.bounds_ = conformal_bounds(residuals, self.level)
        self.feature_names_ = list(X.columns)
        return self

    def predict(self, X) -> pd.DataFrame:
        y_pred = self.estimator_.predict(X[self.feature_names_].astype(float))
        lower, upper = self.bounds_
        return pd.DataFrame(
            {"pred_return": y_pred, "lower_return": y_pred + lower, "upper_return": y_pred + upper},
            index=X.index,
        )
