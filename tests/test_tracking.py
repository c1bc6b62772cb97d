"""MLflow: candidates logged as pyfunc models, the champion registered, the alias only moves forward
in time, the registry reproduces the handed-over forecasts, and a tracking failure fails its
ticker alone with one line."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from synthetic import make_prices

from stockcast import tracking
from stockcast.config import Settings
from stockcast.errors import BadInput
from stockcast.features import make_features
from stockcast.train import TrainSettings, fit_ticker, fit_tickers, forecast_tickers

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


def _reproduce(uri: str, row: pd.DataFrame) -> pd.DataFrame:
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(uri).predict(row).reset_index(drop=True)


def test_the_registry_reproduces_the_forecasts_handed_to_predict(mlflow_settings):
    """Predict never loads a model: the registry stays truthful because the champion behind the
    alias, and a past run's exact version, give back exactly the forecast that was stored."""
    newer, features = _trained(380)
    older, _ = _trained(370)
    logged_new = tracking.register_champion(
        tracking.log_training(newer, FAST, "run-new", {}, models="all")
    )
    logged_old = tracking.register_champion(
        tracking.log_training(older, FAST, "run-old", {}, models="all")
    )
    assert logged_new.alias_moved and not logged_old.alias_moved
    assert tracking.champion_as_of("AAA") == logged_new.as_of
    for trained, logged, uri in (
        (newer, logged_new, "models:/stockcast-AAA@champion"),
        (older, logged_old, f"models:/stockcast-AAA/{logged_old.version}"),
    ):
        handed = forecast_tickers({"AAA": trained}, features, {"AAA": logged.version})
        served = handed[handed["is_champion"]]
        assert served["model_version"].tolist() == [logged.version]
        row = features[features["date"] == trained.as_of_date]
        again = _reproduce(uri, row)
        columns = ["pred_return", "lower_return", "upper_return"]
        assert again[columns].equals(served[columns].reset_index(drop=True))
        assert set(logged.model_uris) == set(trained.forecasters)
        for model, model_uri in logged.model_uris.items():  # every candidate, as logged
            logged_forecast = _reproduce(model_uri, row)[columns]
            expected = handed[handed["model"] == model][columns].reset_index(drop=True)
            pd.testing.assert_frame_equal(
                logged_forecast, expected, check_dtype=False, check_exact=True
            )


def test_by_default_only_the_served_model_is_logged_and_every_candidate_scored(mlflow_settings):
    """At 500 tickers a logged model per candidate dominated the daily run: the default logs
    the served forecaster (what is registered) and every candidate's metrics."""
    from mlflow import MlflowClient

    trained, _ = _trained(390)
    log = tracking.TrainingLog({"AAA": FAST}, "run-served", {})
    log("AAA", trained)
    assert log.failures == {}
    assert list(log.logged["AAA"]["model_uris"]) == [trained.champion]
    run = MlflowClient().get_run(log.logged["AAA"]["mlflow_run_id"])
    assert run.data.params["xgboost.n_estimators"] == "20"
    for model in trained.forecasters:
        assert f"{model}_rmse" in run.data.metrics, model
    with pytest.raises(BadInput, match="models='some' is unknown"):
        tracking.log_training(trained, FAST, "run-bad", {}, models="some")


def test_a_tracking_failure_fails_its_ticker_alone(mlflow_settings, monkeypatch):
    trained, features = _trained(380)
    real = tracking.register_champion

    def register(logged, client=None):
        if logged.ticker == "ZZZ":
            raise OSError("artifact store unreachable\nsecond line")
        return real(logged, client)

    monkeypatch.setattr(tracking, "register_champion", register)
    other = dataclasses.replace(trained, ticker="ZZZ")
    log = tracking.TrainingLog({}, "run-b", {})
    for ticker, fitted in {"ZZZ": other, "AAA": trained}.items():
        log(ticker, fitted)
    assert list(log.logged) == ["AAA"]
    assert log.failures == {"ZZZ": "MLflow: OSError: artifact store unreachable"}
    assert log.table()["ticker"].tolist() == ["AAA"]
    handed = forecast_tickers({"AAA": trained, "ZZZ": other}, features, log.versions())
    assert set(handed["ticker"]) == {"AAA"}


@pytest.mark.parametrize("executor", ["serial", "processes"])
def test_each_fit_is_logged_here_as_it_arrives_and_quietly(mlflow_settings, executor, capfd):
    """04_train hands a TrainingLog to fit_tickers: each ticker is logged and registered in the
    stage's process as its fit arrives (on processes, while the other fits go on), and MLflow's
    "Created version" lines stay out of the report (500 of them at 500 tickers)."""
    features = pd.concat(
        make_features(make_prices(320, ticker, seed=seed))
        for seed, ticker in enumerate(["LOGA", "LOGB", "LOGC"])
    )
    log = tracking.TrainingLog(dict.fromkeys(["LOGA", "LOGB", "LOGC"], FAST), executor, {})
    trained, failures = fit_tickers(features, log.params, SMALL, executor, then=log)
    assert failures == {} and log.failures == {}
    assert set(log.logged) == set(trained) == {"LOGA", "LOGB", "LOGC"}
    for ticker, version in log.versions().items():
        assert tracking.champion_as_of(ticker) == trained[ticker].as_of_date.date().isoformat()
        assert version is not None
    assert "Created version" not in capfd.readouterr().err


def test_requirements_are_pinned():
    pinned = dict(r.split("==") for r in tracking.requirements())
    assert {"scikit-learn", "xgboost-cpu", "pandas", "mlflow"} <= set(pinned)


def test_a_served_blend_is_registered_and_reproduced(mlflow_settings):
    """AR(1) returns: the blend is served; the registry's champion is that blend, and it gives
    back the stored forecast, interval included, from the feature row alone."""
    features = make_features(make_prices(400, "BLD", seed=0, phi=0.5))
    trained = fit_ticker(features, FAST, SMALL)
    assert trained.champion == "blend", trained.reason
    logged = tracking.register_champion(tracking.log_training(trained, FAST, "run-blend", {}))
    handed = forecast_tickers({"BLD": trained}, features, {"BLD": logged.version})
    served = handed[handed["is_champion"]].reset_index(drop=True)
    assert served["model"].tolist() == ["blend"]
    again = _reproduce("models:/stockcast-BLD@champion", features.iloc[[-1]])
    columns = ["pred_return", "lower_return", "upper_return"]
    pd.testing.assert_frame_equal(again[columns], served[columns], check_dtype=False)
