"""A fitted model of the next-session log return with its interval, and the walk-forward folds
that score it: the one fold scheme that training and tuning share.

`IntervalForecaster` follows scikit-learn: `fit` returns self, learned attributes end in `_`;
`predict` returns the return forecast and its bounds. The MLflow pyfunc wraps it unchanged.

Intervals are conformal, either split (constant offsets: the quantiles of the out-of-sample
residuals) or normalized (locally adaptive): the residuals divided by a volatility forecast
made at each residual's own as-of date, their quantiles multiplied by the volatility forecast
of the row predicted. The volatility forecast is a scale column of the feature row (see
volatility.py), so it never looks past the row's date, and the pyfunc needs nothing but the row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import TimeSeriesSplit

from stockcast.errors import BadInput

FORECAST_FIELDS = ("pred_return", "lower_return", "upper_return")
# interval_method -> the feature-frame column that scales the residuals (None: split conformal).
INTERVAL_METHODS = {
    "split": None,
    "garman_klass": "vol_gk_20d",
    "parkinson": "vol_park_20d",
    "yang_zhang": "vol_yz_20d",
    "close_to_close": "vol_20d",
}
# A scale below this (constant prices) counts as this: residuals of zero stay zero, not 0/0.
SCALE_FLOOR = 1e-8


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


def scale_of(method: str) -> str | None:
    """The scale column of an interval method; BadInput names the methods for an unknown one."""
    if method not in INTERVAL_METHODS:
        raise BadInput(
            f"interval_method {method!r} is unknown: use one of {', '.join(INTERVAL_METHODS)}"
        )
    return INTERVAL_METHODS[method]


class IntervalForecaster(BaseEstimator):
    """A point model of the next-session log return and its conformal interval.

    fit(X, y, residuals, scales): the estimator is refitted on (X, y); the interval comes from
    `residuals`, its out-of-sample errors (y_true - y_pred) from the walk-forward folds, never
    in-sample ones. With a `scale_column` (normalized conformal), `scales` holds that column's
    value at each residual's as-of row, and `bounds_` are quantiles of residuals / scales.
    predict(X): pred_return, lower_return, upper_return, indexed like X; X must then carry the
    scale column besides the features.
    """

    def __init__(self, estimator: BaseEstimator, level: float = 0.9, scale_column=None):
        self.estimator = estimator
        self.level = level
        self.scale_column = scale_column

    def fit(self, X, y, residuals, scales=None):
        self.estimator_ = clone(self.estimator).fit(X, y)
        residuals = np.asarray(residuals, dtype=float)
        if self.scale_column is not None:
            if scales is None or len(scales) != len(residuals):
                raise ValueError("normalized conformal needs one scale per residual")
            residuals = residuals / floor_scale(scales)
        self.bounds_ = conformal_bounds(residuals, self.level)
        self.feature_names_ = list(X.columns)  # the scale may be a feature too (close_to_close)
        return self

    @property
    def input_columns_(self) -> list[str]:
        """The columns `predict` reads: the features, then the scale column if not one of them."""
        extra = [self.scale_column] if self.scale_column not in (None, *self.feature_names_) else []
        return [*self.feature_names_, *extra]

    def predict(self, X) -> pd.DataFrame:
        y_pred = self.estimator_.predict(X[self.feature_names_].astype(float))
        scale = 1.0 if self.scale_column is None else floor_scale(X[self.scale_column])
        lower, upper = self.bounds_
        return pd.DataFrame(
            {
                "pred_return": y_pred,
                "lower_return": y_pred + lower * scale,
                "upper_return": y_pred + upper * scale,
            },
            index=X.index,
        )


def floor_scale(scales) -> np.ndarray:
    """Scales as floats, floored at SCALE_FLOOR; NaN (too little history) stays NaN."""
    scales = np.asarray(scales, dtype=float)
    return np.where(np.isnan(scales), np.nan, np.maximum(scales, SCALE_FLOOR))
