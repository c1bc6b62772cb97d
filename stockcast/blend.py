"""The served forecast: naive (a zero return) and one challenger combined, its weight estimated
out of sample and shrunk toward naive, instead of an all-or-nothing switch.

For the challenger with the strongest out-of-sample evidence, y_true is regressed on its
walk-forward prediction without intercept (slope b, t-statistic t); its weight is
w = clip(b, 0, 1) x max(0, 1 - c / t^2), a James-Stein-like shrinkage, and the served return is
w x the challenger's return. No evidence (t^2 <= c, or b <= 0) gives w = 0: naive, exactly.
With c = 1, b (1 - 1/t^2) is the plug-in MSE-optimal scaling of a noisy slope; a larger c pays
for picking the best of several challengers and for re-deciding every retrain on overlapping
evidence. t uses heteroskedasticity-robust (HC1) standard errors: returns are heteroskedastic,
and the plain OLS t overstates the evidence that calm and stormy sessions give together (on
the sample it served a fading AAPL edge and lost 0.26 % to naive; with HC1, none lost).
`blend_oos` scores the blend itself out of sample: each fold uses the weight estimated on the
folds before it only, so the blend's residuals (its interval) and its RMSE are honest too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone

BLEND = "blend"


@dataclass(frozen=True)
class BlendChoice:
    """Which challenger the blend holds and with what weight; slope and t_stat are its evidence."""

    challenger: str | None
    weight: float
    slope: float = np.nan
    t_stat: float = np.nan

    def describe(self) -> str:
        if self.challenger is None:
            return "no challenger to blend"
        return (
            f"{self.weight:.2f} x {self.challenger} + {1 - self.weight:.2f} x naive "
            f"(out-of-sample slope {self.slope:.2f}, t = {self.t_stat:.2f})"
        )


def fit_slope(y_true, y_pred) -> tuple[float, float]:
    """(slope, HC1-robust t-statistic) of y_true on y_pred without intercept; NaN without
    evidence."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    keep = np.isfinite(y_true) & np.isfinite(y_pred)
    y_true, y_pred = y_true[keep], y_pred[keep]
    spread = y_pred @ y_pred
    # A (near-)constant zero prediction carries no information about y: no slope.
    if y_true.size < 3 or not spread > 1e-12 * max(y_true @ y_true, 1e-300):
        return np.nan, np.nan
    slope = (y_true @ y_pred) / spread
    residuals = y_true - slope * y_pred
    n = y_true.size
    # White's sandwich for one regressor, with HC1's n / (n - 1) small-sample factor.
    variance = (y_pred**2 @ residuals**2) / spread**2 * n / (n - 1)
    if not variance > 0:
        return float(slope), np.inf * np.sign(slope)
    return float(slope), float(slope / np.sqrt(variance))


def shrunk_weight(slope: float, t_stat: float, shrinkage: float) -> float:
    """clip(slope, 0, 1) x max(0, 1 - shrinkage / t^2); 0 when either is NaN."""
    if not (np.isfinite(slope) and not np.isnan(t_stat)) or slope <= 0:
        return 0.0
    return float(min(slope, 1.0) * max(0.0, 1.0 - shrinkage / t_stat**2))


def choose_blend(oos: pd.DataFrame, challengers, shrinkage: float) -> BlendChoice:
    """The challenger whose shrunk blend cuts the out-of-sample squared error most (a heavily
    regularized model with a slope above 1 gains less than its t-statistic suggests); without
    any gain, the one with the largest t, at weight 0."""
    y_true = oos["y_true"].to_numpy(dtype=float)
    best, best_gain, strongest = None, 0.0, BlendChoice(None, 0.0)
    for name in challengers:
        slope, t_stat = fit_slope(y_true, oos[name])
        if not np.isfinite(slope):
            continue
        choice = BlendChoice(name, shrunk_weight(slope, t_stat, shrinkage), slope, t_stat)
        y_pred = np.nan_to_num(oos[name].to_numpy(dtype=float))
        gain = 2 * choice.weight * (y_true @ y_pred) - choice.weight**2 * (y_pred @ y_pred)
        if gain > best_gain:
            best, best_gain = choice, gain
        if strongest.challenger is None or t_stat > strongest.t_stat:
            strongest = replace(choice, weight=0.0)
    return best or strongest


def blend_oos(oos: pd.DataFrame, challengers, shrinkage: float) -> np.ndarray:
    """The blend's own walk-forward predictions: fold k blends with the choice made on folds
    before k (the first fold has no past: naive)."""
    blended = np.zeros(len(oos))
    for fold in sorted(oos["fold"].unique()):
        past, now = oos["fold"] < fold, (oos["fold"] == fold).to_numpy()
        choice = choose_blend(oos[past], challengers, shrinkage)
        if choice.weight > 0:
            blended[now] = choice.weight * oos.loc[now, choice.challenger].to_numpy()
    return blended


class BlendForecast(RegressorMixin, BaseEstimator):
    """weight x the challenger's prediction (the rest of the weight is on naive's zero).

    fit refits a clone of `estimator` on (X, y), unless the weight is 0 (then it predicts
    zero, naive, and needs no fit)."""

    def __init__(self, estimator: BaseEstimator | None = None, weight: float = 0.0):
        self.estimator = estimator
        self.weight = weight

    def fit(self, X, y):
        self.n_features_in_ = np.shape(X)[1]
        use = self.estimator is not None and self.weight > 0
        self.estimator_ = clone(self.estimator).fit(X, y) if use else None
        return self

    def predict(self, X):
        if self.estimator_ is None:
            return np.zeros(len(X))
        return self.weight * np.asarray(self.estimator_.predict(X), dtype=float)
