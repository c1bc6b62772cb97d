"""The chain loop (runner/chain.py) with a fake stage executor (tests/fake_papermill.py): the
stages of each run kind in order with their parameters, the records a run leaves, and how a
failing stage, a chain where every ticker failed, and Ctrl-C end it. The runner runs for real
in this process (plan, lock, run records, HTML reports); only the notebooks are faked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import TEST_CONFIG
from fake_papermill import FakePapermill
from test_lock import runs_table, settings_for, started_run

from runner.cli import main
from runner.lock import hold_lock
from stockcast import store
from stockcast.config import load_settings

DAILY = ["daily", "--tickers", "AAPL,MSFT", "--as-of", "2013-03-01"]
RUNS = {
    "daily": (DAILY, ["ingest", "features", "train", "predict", "evaluate", "dashboard"]),
    "weekly": (
        ["weekly", "--tickers", "AAPL,MSFT", "--as-of", "2013-03-01"],
        ["ingest", "features", "tune", "train", "predict", "evaluate", "dashboard"],
    ),
    "backfill": (
        ["backfill", "--tickers", "AAPL,MSFT", "--start", "2013-02-01", "--end", "2013-02-28"],
        ["ingest", "features", "train-backfill", "predict-backfill", "evaluate"],
    ),
    "demo": (
        ["demo"],
        [
            "ingest",
            "features",
            "train-backfill",
            "predict-backfill",
            "tune",
            "train",
            "predict",
            "evaluate",
            "dashboard",
        ],
    ),
}
EXECUTED = {
    "ingest": "01_ingest.ipynb",
    "features": "02_features.ipynb",
    "tune": "03_tune.ipynb",
    "tune-alerted": "03_tune-alerted.ipynb",
    "train": "04_train.ipynb",
    "train-backfill": "04_train-backfill.ipynb",
    "predict": "05_predict.ipynb",
    "predict-backfill": "05_predict-backfill.ipynb",
    "evaluate": "06_evaluate.ipynb",
    "dashboard": "dashboard.ipynb",
}


def run_chain(monkeypatch, capsys, args: list[str], spec: dict | None = None):
    """`python -m runner --config <test config> <args>` in-process with faked notebooks:
    (exit status, the fake's calls, stdout, stderr, run id, run folder)."""
    fake = FakePapermill(spec).install(monkeypatch)
    status = main(["--config", str(TEST_CONFIG), *args])
    out, err = capsys.readouterr()
    run_id = started_run(out)
    return status, fake.calls, out, err, run_id, load_settings().runs_dir / run_id


def run_record(folder: Path) -> dict:
    return json.loads((folder / "run.json").read_text())


def database() -> str:
    return load_settings().db_url


@pytest.mark.parametrize("kind", list(RUNS))
def test_each_kind_runs_its_stages_in_order_and_records_them(outputs, monkeypatch, capsys, kind):
    args, expected = RUNS[kind]
    status, calls, out, err, run_id, folder = run_chain(monkeypatch, capsys, args)

    assert status == 0, out + err
    assert [name for name, _ in calls] == expected
    assert run_id.startswith(f"{kind}-")
    assert runs_table(database()) == {run_id: "ok"}
    record = run_record(folder)
    assert record["status"] == "ok" and record["finished_at"] and record["failed_tickers"] == []
    stages = [(s["name"], s["notebook"], s["status"]) for s in record["stages"]]
    assert stages == [(name, EXECUTED[name], "ok") for name in expected]
    for stage in record["stages"]:
        assert (folder / stage["notebook"]).is_file()
        assert stage["html"] and (folder / stage["html"]).is_file(), stage
    params = json.loads((folder / "params.json").read_text())
    assert list(params["stages"]) == expected and params["kind"] == kind
    assert [params["stages"][name] for name in expected] == [p for _, p in calls]
    assert f"run {run_id} ok: {folder / 'run.json'}" in out
    with hold_lock(settings_for(outputs), f"{kind}-20130301T220000Z-next00"):
        pass  # released


def test_every_stage_gets_the_runs_values_and_the_backfill_ones_their_window(
    outputs, monkeypatch, capsys
):
    _, calls, _, _, run_id, _ = run_chain(monkeypatch, capsys, RUNS["demo"][0])
    given = dict(calls)

    for name, params in calls:
        assert params["run_id"] == run_id, name
        assert params["tickers"] == ["AAPL", "GOOG", "IBM", "MSFT"], name
        if name != "ingest":  # ingest fetches the whole history; it declares no as-of
            assert params["as_of"] == "2013-03-01", name
    assert given["ingest"]["source"] == "sample"
    backfill = given["train-backfill"]
    assert backfill["mode"] == "backfill" and backfill["kind"] == "demo"
    assert (backfill["start"], backfill["end"]) == ("2013-02-12", "2013-02-28")  # 12 sessions
    assert backfill["retrain_every"] == 5  # its section of tests/pipeline.test.yaml
    assert given["train"].get("mode", "live") == "live"
    assert given["tune"]["train_window"] == 400  # borrowed from the train section
    assert given["dashboard"]["static"] is True


def test_a_failing_stage_stops_the_chain_and_names_its_executed_notebook(
    outputs, monkeypatch, capsys
):
    spec = {"stages": {"features": {"error": "ValueError: boom"}}}
    status, calls, out, err, run_id, folder = run_chain(monkeypatch, capsys, DAILY, spec)

    assert status == 1, out + err
    assert [name for name, _ in calls] == ["ingest", "features"]
    executed = folder / "02_features.ipynb"
    reason = f"ValueError: boom (see {executed})"
    assert f"[features] FAILED: {reason}" in out.splitlines()
    assert f"run {run_id} failed: {folder / 'run.json'}" in out
    assert runs_table(database()) == {run_id: "failed"}
    record = run_record(folder)
    assert record["status"] == "failed"
    assert [(s["name"], s["status"], s["error"]) for s in record["stages"]] == [
        ("ingest", "ok", None),
        ("features", "failed", reason),
    ]
    assert executed.is_file() and (folder / "02_features.html").is_file()  # the report of why
    assert not (folder / "04_train.ipynb").exists()
    with hold_lock(settings_for(outputs), "daily-20130301T220000Z-next00"):
        pass


def test_a_stage_where_every_ticker_failed_ends_the_chain(outputs, monkeypatch, capsys):
    failures = {"AAPL": "no data", "MSFT": "no data either"}
    spec = {"stages": {"features": {"fail_tickers": failures}}}
    status, calls, out, err, run_id, folder = run_chain(monkeypatch, capsys, DAILY, spec)

    assert status == 1, out + err
    assert [name for name, _ in calls] == ["ingest", "features"]
    assert (
        "every ticker has failed by stage features, stopping: AAPL: features: no data "
        "(and 1 more: `python -m runner status` lists them)"
    ) in out.splitlines()
    assert runs_table(database()) == {run_id: "failed"}
    record = run_record(folder)
    assert record["status"] == "failed" and record["failed_tickers"] == ["AAPL", "MSFT"]
    assert record["tickers"]["MSFT"] == {"error": "features: no data either"}
    assert [s["status"] for s in record["stages"]] == ["ok", "ok"]  # the notebooks themselves ran


def test_a_ticker_failing_a_stage_leaves_the_others_to_finish_as_partial(
    outputs, monkeypatch, capsys
):
    spec = {"stages": {"ingest": {"fail_tickers": {"AAPL": "rate-limited"}}}}
    status, calls, out, err, run_id, folder = run_chain(monkeypatch, capsys, DAILY, spec)

    assert status == 1, out + err
    assert [params["tickers"] for _, params in calls] == [["AAPL", "MSFT"]] + [["MSFT"]] * 5
    assert re.search(r"^\[ingest\] ok in \d+s; failed so far: AAPL$", out, re.M)
    assert runs_table(database()) == {run_id: "partial"}
    assert run_record(folder)["failed_tickers"] == ["AAPL"]


def test_ctrl_c_in_a_stage_closes_the_run_as_interrupted_without_its_report(
    outputs, monkeypatch, capsys
):
    status, calls, out, err, run_id, folder = run_chain(
        monkeypatch, capsys, DAILY, {"stages": {"train": "interrupt"}}
    )

    assert status == 130
    assert err.splitlines() == ["interrupted"]
    assert [name for name, _ in calls] == ["ingest", "features", "train"]
    assert f"run {run_id} interrupted: " in out
    assert runs_table(database()) == {run_id: "interrupted"}
    record = run_record(folder)
    assert record["status"] == "interrupted" and record["finished_at"]
    assert [(s["name"], s["status"], s["html"]) for s in record["stages"]][-1] == (
        "train",
        "interrupted",
        None,
    )
    with hold_lock(settings_for(outputs), "daily-20130301T220000Z-next00"):
        pass


def test_an_alert_adds_the_retune_for_the_alerted_tickers_only(outputs, monkeypatch, capsys):
    engine = store.connect(database())
    earlier = "daily-20130228T220000Z-aaaaaa"
    store.start_run(engine, earlier, "daily", "2013-02-28", "/r")
    store.record_items(
        engine, earlier, "alert", {"MSFT": ("alert", "MSFT: champion 8% behind naive")}
    )
    store.finish_run(engine, earlier, "ok")
    engine.dispose()

    status, calls, out, err, _, _ = run_chain(monkeypatch, capsys, DAILY)

    assert status == 0, out + err
    assert [(name, params["tickers"]) for name, params in calls][1:4] == [
        ("features", ["AAPL", "MSFT"]),
        ("tune-alerted", ["MSFT"]),
        ("train", ["AAPL", "MSFT"]),
    ]


def test_a_run_left_running_by_a_dead_holder_is_closed_as_abandoned(outputs, monkeypatch, capsys):
    engine = store.connect(database())
    dead = "daily-20130228T220000Z-dead00"
    left = load_settings().runs_dir / dead
    left.mkdir(parents=True)
    (left / "run.json").write_text(json.dumps({"run_id": dead, "status": "running"}))
    store.start_run(engine, dead, "daily", "2013-02-28", str(left))
    engine.dispose()

    status, _, out, err, run_id, _ = run_chain(monkeypatch, capsys, DAILY)

    assert status == 0, out + err
    assert f"marked run {dead} as abandoned: its holder died" in out
    assert runs_table(database()) == {dead: "abandoned", run_id: "ok"}
    assert run_record(left)["status"] == "abandoned"
