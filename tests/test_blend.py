"""blend.py: the out-of-sample slope and its t, the shrunk weight, the blend's own honest record."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import LinearRegression

from stockcast.blend import (
    BlendChoice,
    BlendForecast,
    blend_oos,
    choose_blend,
    fit_slope,
    shrunk_weight,
)


def test_fit_slope_is_ols_without_intercept_with_a_robust_t():
    rng = np.random.default_rng(1)
    f = rng.normal(size=200)
    y = 0.6 * f + rng.normal(size=200) * np.where(np.arange(200) < 100, 0.5, 2.0)
    reference = sm.OLS(y, f).fit(cov_type="HC1")
    slope, t_stat = fit_slope(y, f)
    assert slope == pytest.approx(reference.params[0])
    assert t_stat == pytest.approx(reference.tvalues[0])
    assert np.isnan(fit_slope(y, np.zeros(200))).all()  # naive's zeros: no evidence
    assert np.isnan(fit_slope(y[:2], f[:2])).all()


@pytest.mark.parametrize(
    "slope, t_stat, shrinkage, weight",
    [
        (0.8, 4.0, 4.0, 0.8 * (1 - 4 / 16)),
        (1.5, 10.0, 4.0, 1.0 * (1 - 4 / 100)),  # the slope is capped at 1
        (0.9, 1.9, 4.0, 0.0),  # t^2 below c: no weight
        (-0.5, -6.0, 4.0, 0.0),  # a forecast pointing the wrong way gets none
        (np.nan, np.nan, 4.0, 0.0),
        (0.7, 3.0, 0.0, 0.7),  # c = 0: the plain clipped slope
    ],
)
def test_shrunk_weight(slope, t_stat, shrinkage, weight):
    assert shrunk_weight(slope, t_stat, shrinkage) == pytest.approx(weight)


def make_oos(n_folds=5, size=100, seed=0):
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n_folds * size)
    return pd.DataFrame(
        {
            "date": pd.bdate_range("2020-01-01", periods=n_folds * size),
            "fold": np.repeat(np.arange(n_folds), size),
            "y_true": 0.3 * signal + rng.normal(size=n_folds * size),
            "naive": 0.0,
            "good": signal,
            "noise": rng.normal(size=n_folds * size),
        }
    )


def test_choose_blend_takes_the_challenger_whose_shrunk_blend_gains_most():
    choice = choose_blend(make_oos(), ["noise", "good"], 4.0)
    assert choice.challenger == "good" and 0 < choice.weight < choice.slope
    assert choice.t_stat > 4
    # The same signal, over-shrunk to a tenth: as strong a t, but its weight is capped at 1.
    timid = make_oos().assign(timid=lambda oos: 0.1 * oos["good"] + 1e-9)
    assert choose_blend(timid, ["timid", "good"], 4.0).challenger == "good"
    assert choose_blend(timid, ["timid"], 4.0).weight == pytest.approx(1 - 4 / choice.t_stat**2)
    no_gain = choose_blend(make_oos(), ["noise"], 4.0)
    assert no_gain.challenger == "noise" and no_gain.weight == 0
    assert choose_blend(make_oos(), [], 4.0) == BlendChoice(None, 0.0)
    assert "x good" in choice.describe()


def test_blend_oos_uses_only_earlier_folds():
    oos = make_oos()
    blended = blend_oos(oos, ["noise", "good"], 4.0)
    assert (blended[oos["fold"] == 0] == 0).all()  # no past: naive
    assert (blended[oos["fold"] == 4] != 0).all()
    changed = oos.copy()
    changed.loc[changed["fold"] == 4, "y_true"] *= -1  # rewrite the last fold's outcomes
    again = blend_oos(changed, ["noise", "good"], 4.0)
    assert np.array_equal(again, blended)  # fold 4 is blended with folds 0-3's weight only
    changed.loc[changed["fold"] == 2, "y_true"] *= -1
    assert not np.array_equal(blend_oos(changed, ["noise", "good"], 4.0), blended)


class Unfittable(RegressorMixin, BaseEstimator):
    def fit(self, X, y):
        raise AssertionError("a zero-weight blend must not fit its challenger")


def test_blend_forecast_scales_its_challenger_and_skips_it_at_zero_weight():
    X = pd.DataFrame({"x": np.arange(10.0)})
    y = 2 * X["x"]
    blend = BlendForecast(LinearRegression(), 0.25).fit(X, y)
    assert np.allclose(blend.predict(X), 0.5 * X["x"])
    assert (BlendForecast(Unfittable(), 0.0).fit(X, y).predict(X) == 0).all()
    assert (BlendForecast(None, 0.3).fit(X, y).predict(X) == 0).all()
