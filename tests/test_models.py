"""models.py: the registry, the naive baseline, parameters, NaN handling, unknown names."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from synthetic import make_prices
from xgboost import XGBRegressor

from stockcast.config import CANDIDATES
from stockcast.errors import BadInput
from stockcast.features import FEATURE_COLUMNS, make_features
from stockcast.models import DEFAULT_PARAMS, MODELS, XGBOOST_FIXED, NaiveForecast, make_model

rng = np.random.default_rng(0)
X = rng.normal(size=(120, 4))
y = X @ np.array([0.5, -0.2, 0.0, 0.1]) + rng.normal(0, 0.1, 120)


def test_registry_covers_the_configured_candidates_with_defaults():
    assert tuple(MODELS) == CANDIDATES
    assert set(DEFAULT_PARAMS) == set(MODELS)
    for name in MODELS:
        clone(make_model(name))  # unfitted, scikit-learn compatible


def test_naive_predicts_a_zero_return():
    model = NaiveForecast()
    assert model.fit(X, y) is model
    assert np.array_equal(model.predict(X[:5]), np.zeros(5))
    with pytest.raises(ValueError, match="no parameters"):
        make_model("naive", {"alpha": 1})


def test_ridge_is_a_pipeline_that_scales_and_imputes_with_training_statistics():
    model = make_model("ridge", {"alpha": 3.0})
    assert isinstance(model, Pipeline)
    assert list(model.named_steps) == ["impute", "scale", "model"]
    assert model.named_steps["model"].alpha == 3.0
    model.fit(X, y)
    row = X[:1].copy()
    row[0, 0] = np.nan
    assert np.isfinite(model.predict(row)).all()
    assert np.allclose(model.named_steps["impute"].statistics_, np.median(X, axis=0))


def test_ar_learns_the_autoregression_of_the_last_return_and_reads_nothing_else():
    features = make_features(make_prices(1500, seed=3, phi=0.3))
    rows = features[~features["warm_up"] & features["label"].notna()]
    X_rows, y_rows = rows[list(FEATURE_COLUMNS)], rows["label"]
    model = make_model("ar").fit(X_rows, y_rows)
    assert model[-1].coef_ == pytest.approx([0.3], abs=0.05)
    others = X_rows.assign(**{c: 0.0 for c in FEATURE_COLUMNS if c != "ret_1d"})
    assert np.array_equal(model.predict(others), model.predict(X_rows))
    gap = X_rows.iloc[:1].assign(ret_1d=np.nan)  # a stray NaN: the training median, not NaN
    assert np.isfinite(model.predict(gap)).all()


def test_xgboost_keeps_its_fixed_settings_over_params():
    model = make_model("xgboost", {"n_estimators": 20, "n_jobs": 8, "random_state": 7})
    assert isinstance(model[-1], XGBRegressor)
    params = model[-1].get_params()
    assert params["n_estimators"] == 20
    assert (params["n_jobs"], params["random_state"], params["tree_method"]) == (1, 0, "hist")
    first = model.fit(X, y).predict(X)
    again = make_model("xgboost", {"n_estimators": 20}).fit(X, y).predict(X)
    assert np.array_equal(first, again)


def test_xgboost_fits_the_frames_values_without_their_names():
    """It is fed arrays (no per-round feature-name checks) and predicts exactly what it
    predicts fitted on the frame itself."""
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = make_model("xgboost", {"n_estimators": 20}).fit(frame, y)
    assert model[-1].get_booster().feature_names is None
    same = {**DEFAULT_PARAMS["xgboost"], "n_estimators": 20, **XGBOOST_FIXED}
    on_frame = XGBRegressor(**same).fit(frame, y).predict(frame)
    assert np.array_equal(model.predict(frame), on_frame)


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(BadInput, match="unknown model 'lstm'.*naive, ar, ridge, xgboost"):
        make_model("lstm")
