"""Runs on a folder of Yahoo-export CSVs of other symbols: backfill then daily, other exchanges,
too little history (naive only, reason recorded), constant prices (still predicted)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import TEST_CONFIG, pipeline_env, run_cli

from stockcast import calendar, store

pytestmark = pytest.mark.pipeline
END = "2013-03-01"


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


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("csv")
    write_yahoo_csv(folder, "SPY", 450, seed=1)
    write_yahoo_csv(folder, "VOD.L", 450, seed=2)
    write_yahoo_csv(folder, "SHORT", 30, seed=3)
    write_yahoo_csv(folder, "FLAT", 400, seed=4, constant=True)
    outputs = tmp_path_factory.mktemp("csv_run") / "outputs"
    env = pipeline_env(outputs)
    days = calendar.sessions("SPY", "2012-12-01", END)
    backfill = run_cli(
        "--config",
        str(TEST_CONFIG),
        "backfill",
        "--source",
        "csv",
        "--csv-dir",
        str(folder),
        "--start",
        str(days[-21].date()),
        "--end",
        str(days[-2].date()),
        env=env,
    )
    # Between the runs the provider re-adjusts SPY's history (a dividend upstream) and drops its
    # oldest rows: the daily run's ingest must replace SPY's stored history whole.
    spy = pd.read_csv(folder / "SPY.csv").iloc[10:]
    spy["Adj Close"] = (spy["Adj Close"] * 0.98).round(4)
    spy.to_csv(folder / "SPY.csv", index=False)
    daily = run_cli(
        "--config", str(TEST_CONFIG), "daily", "--source", "csv", "--csv-dir", str(folder), env=env
    )
    return store.connect(f"sqlite:///{outputs / 'stockcast.db'}"), backfill, daily


def test_both_runs_succeed(csv_run):
    _, backfill, daily = csv_run
    assert backfill.returncode == 0, backfill.stdout + backfill.stderr
    assert daily.returncode == 0, daily.stdout + daily.stderr


def test_backfill_rows_let_anyone_compare_the_champion_with_naive(csv_run):
    engine, _, _ = csv_run
    evals = store.load_evaluations(engine, ["SPY", "VOD.L"])
    assert set(evals["model"]) == {"blend", "naive", "ridge", "xgboost"}
    assert evals.groupby(["ticker", "model"]).size().min() >= 20
    sq = evals.assign(sq=(evals["pred_close"] - evals["true_close"]) ** 2)
    champion = sq[sq["is_champion"]].groupby("ticker")["sq"].mean() ** 0.5
    naive = sq[sq["model"] == "naive"].groupby("ticker")["sq"].mean() ** 0.5
    ratio = champion / naive
    assert ratio.notna().all() and (ratio > 0).all()


def test_a_re_adjusted_source_history_replaces_the_stored_one_whole(csv_run):
    engine, _, _ = csv_run
    stored = store.load_prices(engine, ["SPY"])
    assert len(stored) == 440
    assert (stored["adj_close"] < stored["close"]).all()  # the new adjustment, every row
    items = store.run_items(engine, store.recent_runs(engine, 1)["run_id"])
    assert items.set_index(["stage", "ticker"]).loc[("ingest", "SPY"), "status"] == "ok"


def test_targets_follow_each_exchange_calendar(csv_run):
    engine, _, _ = csv_run
    preds = store.load_predictions(engine, ["VOD.L"])
    expected = calendar.next_sessions("VOD.L", preds["as_of_date"])
    assert (pd.DatetimeIndex(preds["target_date"]) == expected).all()
    latest = preds[preds["as_of_date"] == pd.Timestamp(END)]
    assert set(latest["target_date"]) == {pd.Timestamp("2013-03-04")}


def test_too_little_history_serves_naive_only_with_the_reason(csv_run):
    engine, _, _ = csv_run
    preds = store.load_predictions(engine, ["SHORT"], start="2013-03-04")
    assert preds["model"].tolist() == ["naive"] and preds["is_champion"].all()
    runs = store.recent_runs(engine, 1)
    items = store.run_items(engine, runs["run_id"]).set_index(["stage", "ticker"])
    status, reason = items.loc[("train", "SHORT"), ["status", "error"]]
    assert status == "note" and reason.startswith("only 0 labelled sessions (need 250)")


def test_constant_prices_still_get_predictions(csv_run):
    engine, _, _ = csv_run
    preds = store.load_predictions(engine, ["FLAT"], start="2013-03-04")
    assert len(preds) == 4  # naive, ridge, xgboost and the blend
    assert np.allclose(preds["pred_close"], 40.0)
