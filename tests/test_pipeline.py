"""End to end: the shared small demo run, on SQLite and on PostgreSQL, read as a user would."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest
from conftest import REPO
from mlflow import MlflowClient

from stockcast import store

pytestmark = pytest.mark.pipeline
EXPECTED_ROWS = {"AAPL": 3270, "GOOG": 2148, "IBM": 3270, "MSFT": 3270}


@pytest.fixture(params=["pipeline", "pg_pipeline"], ids=["sqlite", "postgresql"])
def run(request):
    return request.getfixturevalue(request.param)


def test_demo_stores_the_whole_sample(run):
    summary = store.price_summary(store.connect(run.db_url)).set_index("ticker")
    assert summary["rows"].to_dict() == EXPECTED_ROWS
    assert summary.loc["GOOG", "first_date"] == pd.Timestamp("2004-08-19")
    assert set(summary["last_date"]) == {pd.Timestamp("2013-03-01")}


def test_stored_close_shows_the_split_while_features_see_it_adjusted(pipeline):
    from stockcast.features import make_features

    prices = store.load_prices(store.connect(pipeline.db_url), ["AAPL"], "2004-09-01", "2005-03-31")
    around = prices.set_index("date").loc[["2005-02-25", "2005-02-28"]]
    traded = around["close"].iloc[1] / around["close"].iloc[0]
    adjusted = around["adj_close"].iloc[1] / around["adj_close"].iloc[0]
    assert 0.45 < traded < 0.55  # the 2:1 split as traded
    assert 0.9 < adjusted < 1.1  # continuous once adjusted
    assert around["stock_splits"].iloc[1] == 2.0
    features = make_features(prices).set_index("date")
    assert abs(features.loc["2005-02-28", "ret_1d"]) < 0.1  # no -69 % "crash" in the inputs


def test_live_prediction_is_stamped_with_the_session_it_predicts(run):
    preds = store.load_predictions(store.connect(run.db_url), start="2013-03-04")
    assert set(preds["as_of_date"]) == {pd.Timestamp("2013-03-01")}
    assert set(preds["target_date"]) == {pd.Timestamp("2013-03-04")}  # a Monday after a Friday
    for ticker, rows in preds.groupby("ticker"):
        assert sorted(rows["model"]) == ["ar", "blend", "naive", "pooled", "ridge", "xgboost"], (
            ticker
        )
        champion = rows[rows["is_champion"]]
        assert len(champion) == 1
        assert champion["model_version"].iloc[0] is not None
        assert (rows["pred_lower"] < rows["pred_close"]).all()
        assert (rows["pred_close"] < rows["pred_upper"]).all()


def test_naive_forecast_is_todays_close(run):
    engine = store.connect(run.db_url)
    preds = store.load_predictions(engine, start="2013-03-04")
    closes = store.load_prices(engine, start="2013-03-01", end="2013-03-01").set_index("ticker")
    naive = preds[preds["model"] == "naive"].set_index("ticker")["pred_close"]
    pd.testing.assert_series_equal(naive, closes["close"].loc[naive.index], check_names=False)


def test_backfill_is_evaluated_for_every_candidate_and_the_champion(run):
    evals = store.load_evaluations(store.connect(run.db_url))
    counts = evals.groupby(["ticker", "model"]).size().unstack()
    assert (counts >= 12).all().all(), counts
    champions = evals[evals["is_champion"]].groupby("ticker").size()
    assert (champions >= 12).all()
    assert evals["target_date"].max() == pd.Timestamp("2013-03-01")
    assert (evals["target_date"] > evals["as_of_date"]).all()


def test_run_folder_holds_the_audit_record(run):
    folder = run.run_folder
    names = {p.name for p in folder.iterdir()}
    for stem in (
        "01_ingest",
        "02_features",
        "03_tune",
        "04_train",
        "04_train-backfill",
        "05_predict",
        "05_predict-backfill",
        "06_evaluate",
    ):
        assert f"{stem}.ipynb" in names and f"{stem}.html" in names, stem
    record = json.loads((folder / "run.json").read_text())
    assert record["status"] == "ok"
    assert [s["status"] for s in record["stages"]] == ["ok"] * len(record["stages"])
    params = json.loads((folder / "params.json").read_text())
    assert params["common"]["as_of"] == "2013-03-01"
    assert params["stages"]["train-backfill"]["mode"] == "backfill"
    assert params["git_commit"]


def test_mlflow_registry_holds_each_champion(pipeline):
    uri = f"sqlite:///{pipeline.outputs / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    for ticker in EXPECTED_ROWS:
        version = client.get_model_version_by_alias(f"stockcast-{ticker}", "champion")
        assert version.tags["stockcast.as_of"] == "2013-03-01"
    experiment = client.get_experiment_by_name("stockcast-demo")
    assert experiment.artifact_location.startswith((pipeline.outputs / "mlartifacts").as_uri())
    reports = client.search_runs([experiment.experiment_id], "tags.`stockcast.stage` = 'reports'")
    assert reports[0].info.run_name == pipeline.run_folder.name
    logged = {a.path for a in client.list_artifacts(reports[0].info.run_id, "reports")}
    assert {"reports/04_train.ipynb", "reports/04_train.html"} <= logged
    for folder in (REPO, REPO / "notebooks"):  # MLflow's defaults would land in the cwd
        assert not (folder / "mlruns").exists() and not (folder / "mlflow.db").exists()
