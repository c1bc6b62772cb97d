"""A daily run on a folder of Yahoo-export CSVs of other symbols, over the prices an earlier
run stored: a re-adjusted history replaced whole, other exchanges, too little history (naive
only, reason recorded), constant prices (still predicted).

The backfill command's chain is tested with faked notebooks (test_chain.py) and its notebooks
in the shared demo run, which backfills (test_pipeline.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import TEST_CONFIG, pipeline_env, run_cli

from stockcast import calendar, sources, store, validate

pytestmark = pytest.mark.pipeline
END = "2013-03-28"  # the Thursday before Easter: Good Friday closes New York and London,
NEXT = {"SPY": "2013-04-01", "VOD.L": "2013-04-02"}  # Easter Monday London alone


def write_yahoo_csv(folder, ticker: str, n: int, seed: int, constant: bool = False) -> None:
    """A valid Yahoo Finance export of a random walk on the ticker's own exchange sessions."""
    rng = np.random.default_rng(seed)
    days = calendar.sessions(ticker, "2010-01-01", END)[-n:]
    close = np.full(n, 40.0) if constant else 40 * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
    open_ = close if constant else close * np.exp(rng.normal(0, 0.005, n))
    spread = 0.0 if constant else np.abs(rng.normal(0, 0.01, n))
    pd.DataFrame(
        {
            "Date": days.strftime("%Y-%m-%d"),
            "Open": open_.round(4),
            "High": (np.maximum(open_, close) * (1 + spread)).round(4),
            "Low": (np.minimum(open_, close) * (1 - spread)).round(4),
            "Close": close.round(4),
            "Adj Close": close.round(4),
            "Volume": rng.integers(10_000, 1_000_000, n),
        }
    ).to_csv(folder / f"{ticker}.csv", index=False)


def store_prices_as_ingested(db_url: str, folder) -> None:
    """What an earlier run's ingest of `folder` left: every file's valid rows, stored."""
    fetched = sources.fetch_prices("csv", None, csv_dir=folder)
    valid, invalid = validate.validate_prices(fetched.prices)
    assert not fetched.failures and not invalid
    engine = store.connect(db_url)
    store.save_prices(engine, valid, "csv")
    engine.dispose()


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("csv")
    write_yahoo_csv(folder, "SPY", 450, seed=1)
    write_yahoo_csv(folder, "VOD.L", 450, seed=2)
    write_yahoo_csv(folder, "SHORT", 30, seed=3)
    write_yahoo_csv(folder, "FLAT", 400, seed=4, constant=True)
    outputs = tmp_path_factory.mktemp("csv_run") / "outputs"
    db_url = f"sqlite:///{outputs / 'stockcast.db'}"
    store_prices_as_ingested(db_url, folder)
    # Since then the provider re-adjusted SPY's history (a dividend upstream) and dropped its
    # oldest rows: the daily run's ingest must replace SPY's stored history whole.
    spy = pd.read_csv(folder / "SPY.csv").iloc[10:]
    spy["Adj Close"] = (spy["Adj Close"] * 0.98).round(4)
    spy.to_csv(folder / "SPY.csv", index=False)
    daily = run_cli(
        "--config",
        str(TEST_CONFIG),
        "daily",
        "--source",
        "csv",
        "--csv-dir",
        str(folder),
        env=pipeline_env(outputs),
    )
    return store.connect(db_url), daily


def test_the_daily_run_succeeds_as_of_the_last_day_in_the_files(csv_run):
    engine, daily = csv_run
    assert daily.returncode == 0, daily.stdout + daily.stderr
    (run,) = store.recent_runs(engine).itertuples()
    assert (run.kind, run.status, str(run.as_of_date)) == ("daily", "ok", END)


def test_a_re_adjusted_source_history_replaces_the_stored_one_whole(csv_run):
    engine, _ = csv_run
    stored = store.load_prices(engine, ["SPY"])
    assert len(stored) == 440
    assert (stored["adj_close"] < stored["close"]).all()  # the new adjustment, every row
    items = store.run_items(engine, store.recent_runs(engine, 1)["run_id"])
    assert items.set_index(["stage", "ticker"]).loc[("ingest", "SPY"), "status"] == "ok"


def test_targets_follow_each_exchange_calendar(csv_run):
    engine, _ = csv_run
    preds = store.load_predictions(engine, ["SPY", "VOD.L"])
    assert set(preds["as_of_date"]) == {pd.Timestamp(END)}
    targets = preds.groupby("ticker")["target_date"].unique().map(list).to_dict()
    assert targets == {ticker: [pd.Timestamp(day)] for ticker, day in NEXT.items()}


def test_too_little_history_serves_naive_only_with_the_reason(csv_run):
    engine, _ = csv_run
    preds = store.load_predictions(engine, ["SHORT"], start=END)
    assert preds["model"].tolist() == ["naive"] and preds["is_champion"].all()
    runs = store.recent_runs(engine, 1)
    items = store.run_items(engine, runs["run_id"]).set_index(["stage", "ticker"])
    status, reason = items.loc[("train", "SHORT"), ["status", "error"]]
    assert status == "note" and reason.startswith("only 0 labelled sessions (need 250)")


def test_constant_prices_still_get_predictions(csv_run):
    engine, _ = csv_run
    preds = store.load_predictions(engine, ["FLAT"], start=END)
    assert len(preds) == 6  # naive, ar, ridge, xgboost, the blend and pooled
    own = preds[preds["model"] != "pooled"]  # pooled learned from the other tickers' moves
    assert np.allclose(own["pred_close"], 40.0)
    assert np.isfinite(preds[["pred_close", "pred_lower", "pred_upper"]]).all(axis=None)
