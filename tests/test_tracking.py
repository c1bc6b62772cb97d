"""MLflow: candidates logged as pyfunc models, the champion registered, the alias only moves forward
in time, and a missing champion fails its ticker alone with a clear message."""

from __future__ import annotations

import pandas as pd
import pytest
from synthetic import make_prices

from stockcast import tracking
from stockcast.config import Settings
from stockcast.features import make_features
from stockcast.train import TrainSettings, fit_ticker

SMALL = TrainSettings(n_splits=3, train_window=300, min_train_rows=150)
FAST = {"xgboost": {"n_estimators": 20}}


@pytest.fixture(scope="module")
def mlflow_settings(tmp_path_factory):
    outputs = tmp_path_factory.mktemp("mlflow")
    settings = Settings(
        outputs=outputs,
        db_url=f"sqlite:///{outputs / 'x.db'}",
        tracking_uri=f"sqlite:///{outputs / 'mlflow.db'}",
    )
    tracking.use_experiment(settings, "test")
    return settings


def _trained(days: int):
    features = make_features(make_prices(400, "AAA", seed=3))
    return fit_ticker(features.iloc[:days], FAST, SMALL), features


def test_alias_moves_forward_only_and_each_train_keeps_its_version(mlflow_settings):
    newer, features = _trained(380)
    older, _ = _trained(370)
    logged_new = tracking.register_champion(tracking.log_training(newer, FAST, "run-new", {}))
    logged_old = tracking.register_champion(tracking.log_training(older, FAST, "run-old", {}))
    assert logged_new.alias_moved and not logged_old.alias_moved
    assert tracking.champion_as_of("AAA") == logged_new.as_of
    # The past run predicts with its own version, never the newer champion.
    assert tracking.champion_uri(vars(logged_old)) == f"models:/stockcast-AAA/{logged_old.version}"
    assert tracking.champion_uri(vars(logged_new)) == "models:/stockcast-AAA@champion"
    rows = features.iloc[[369]]
    forecasts, failures = tracking.forecast_logged(mlflow_settings, [vars(logged_old)], rows)
    assert failures == {}
    assert sorted(forecasts["model"]) == ["naive", "ridge", "xgboost"]
    champion = forecasts[forecasts["is_champion"]]
    assert champion["model_version"].tolist() == [logged_old.version]
    assert (forecasts["lower_return"] <= forecasts["pred_return"]).all()


def test_a_missing_champion_fails_its_ticker_alone(mlflow_settings):
    trained, features = _trained(380)
    good = vars(tracking.register_champion(tracking.log_training(trained, FAST, "run-a", {})))
    missing = {**good, "ticker": "ZZZ", "version": "999", "alias_moved": False}
    rows = pd.concat([features.iloc[[379]], features.iloc[[379]].assign(ticker="ZZZ")])
    forecasts, failures = tracking.forecast_logged(mlflow_settings, [good, missing], rows)
    assert set(forecasts["ticker"]) == {"AAA"}
    assert list(failures) == ["ZZZ"]
    assert failures["ZZZ"].startswith("ZZZ: cannot load model models:/stockcast-ZZZ/999")
    assert "\n" not in failures["ZZZ"]


def test_requirements_are_pinned():
    pinned = dict(r.split("==") for r in tracking.requirements())
    assert {"scikit-learn", "xgboost-cpu", "pandas", "mlflow"} <= set(pinned)
