"""Faults a daily run must survive: a kill mid-training, a rate-limited ticker, the network down,
an unreachable database; and no secret written to a run's records, logs or MLflow.

The notebooks run in kernels, separate processes: to fake Yahoo there, the runs get a test-only
`sitecustomize.py` on PYTHONPATH that installs tests/yahoo.py's FakeYahoo in every Python
process of the run (yfinance's own HTTP layer is replaced, all of yfinance above it runs).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing, suppress
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import sqlalchemy as sa
import tenacity
import yahoo
from conftest import PG_URL, REPO, run_cli
from conftest import pipeline_env as base_env
from test_lock import (
    _descendants,
    database_url,
    finish,
    kill_run,
    no_run_left_behind,  # noqa: F401 (autouse: kills a run a failing test leaves behind)
    runs_table,
    settings_for,
    start_fake_run,
    start_run,
    started_run,
    wait_for_stage,
    wait_until,
    with_password,
)

from runner.lock import hold_lock
from stockcast import calendar, sources
from stockcast.tracking import TAG_RUN, TAG_STAGE

PASSWORD = "s3cretpass"
AS_OF = "2023-06-30"  # the last session the fake Yahoo serves
SHIM = '''\
"""Test-only: Yahoo answered by tests/yahoo.py's FakeYahoo in this process (see test_faults)."""
import json
import os


def _install(spec):
    import pandas as pd
    import yahoo

    from stockcast import sources

    class LoggedYahoo(yahoo.FakeYahoo):
        def request(self, method, url, params=None, **kwargs):
            if "/v8/finance/chart/" in url:
                with open(spec["log"], "a") as log:
                    log.write(url.split("/v8/finance/chart/")[1].split("?")[0] + "\\n")
            return super().request(method, url, params=params, **kwargs)

    class Patch:
        setattr = staticmethod(setattr)

    fake = LoggedYahoo().install(Patch())
    for symbol, path in spec["serve"].items():
        fake.serve(symbol, pd.read_csv(path, index_col=0, parse_dates=True))
    for symbol in spec["rate_limit"]:
        fake.rate_limit(symbol)
    for symbol in spec["cut_off"]:
        fake.cut_off(symbol)
    for name, value in spec["retry"].items():  # the waits only: attempts stay as shipped
        setattr(sources, name, value)


if os.environ.get("STOCKCAST_TEST_FAKE_YAHOO"):
    with open(os.environ["STOCKCAST_TEST_FAKE_YAHOO"]) as handle:
        _install(json.load(handle))
'''


def fake_yahoo_env(env: dict, folder: Path, serve=(), rate_limit=(), cut_off=()) -> dict:
    """`env` with Yahoo faked in every process of the run: `serve` tickers get ~2.5 years of
    bars up to AS_OF, `rate_limit` ones always answer HTTP 429, `cut_off` ones never connect."""
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(SHIM)
    bars = {}
    for seed, ticker in enumerate(serve):
        days = calendar.sessions(ticker, "2021-01-04", AS_OF)
        bars[ticker] = str(folder / f"{ticker}.csv")
        yahoo.make_bars(days, first_close=100.0 + 50 * seed, seed=seed).to_csv(bars[ticker])
    spec = {
        "serve": bars,
        "rate_limit": list(rate_limit),
        "cut_off": list(cut_off),
        "retry": {"RETRY_WAIT_INITIAL": 0.05, "RETRY_WAIT_MAX": 0.2, "RETRY_JITTER": 0.05},
        "log": str(folder / "chart_requests.log"),
    }
    (folder / "spec.json").write_text(json.dumps(spec))
    tests_dir = Path(yahoo.__file__).parent
    return {
        **env,
        "PYTHONPATH": os.pathsep.join([str(folder), str(tests_dir)]),
        "STOCKCAST_TEST_FAKE_YAHOO": str(folder / "spec.json"),
    }


def chart_requests(folder: Path) -> list[str]:
    log = folder / "chart_requests.log"
    return log.read_text().split() if log.is_file() else []


def copy_of_pipeline_database(pipeline, tmp_path: Path, mlflow: bool = False) -> Path:
    """Fresh outputs holding a copy of the shared demo run's database and, with `mlflow`, of its
    MLflow store (its registry, champion aliases included), the experiments' artifact folders
    moved into the copy so that nothing is written beside the shared run's artifacts."""
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    shutil.copy(pipeline.outputs / "stockcast.db", outputs / "stockcast.db")
    if mlflow:
        shutil.copy(pipeline.outputs / "mlflow.db", outputs / "mlflow.db")
        shared, own = ((f / "mlartifacts").as_uri() for f in (pipeline.outputs, outputs))
        with closing(sqlite3.connect(outputs / "mlflow.db")) as db, db:
            db.execute(
                "UPDATE experiments SET artifact_location = REPLACE(artifact_location, ?, ?)",
                (shared, own),
            )
    return outputs


def logging_a_training(outputs: Path, run_id: str):
    """A check that the run's train stage has begun logging to MLflow (mid-training)."""

    def check() -> bool:
        query = (
            "SELECT COUNT(*) FROM tags r JOIN tags s ON s.run_uuid = r.run_uuid "
            "WHERE r.key = ? AND r.value = ? AND s.key = ? AND s.value = 'train'"
        )
        try:
            with closing(sqlite3.connect(f"file:{outputs / 'mlflow.db'}?mode=ro", uri=True)) as db:
                return db.execute(query, (TAG_RUN, run_id, TAG_STAGE)).fetchone()[0] > 0
        except sqlite3.Error:  # not created yet, or busy
            return False

    check.__name__ = f"run {run_id} to log a training to MLflow"
    return check


def read_table(db_url: str, table: str, order: list[str]) -> pd.DataFrame:
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        return pd.read_sql_table(table, conn).sort_values(order, ignore_index=True)


def lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


# --- killed in the middle of training -----------------------------------------------------------


@pytest.mark.pipeline
def test_a_run_killed_in_training_leaves_no_partial_rows_and_the_same_day_rerun_the_same_rows(
    pipeline, tmp_path
):
    """The rerun after the kill is a rerun of the demo's own as-of (its database and MLflow
    registry copied): it leaves the rows the demo left, one champion per target."""
    outputs = copy_of_pipeline_database(pipeline, tmp_path, mlflow=True)
    db_url = f"sqlite:///{outputs / 'stockcast.db'}"
    env = base_env(outputs)
    key = ["ticker", "date"]
    pred_key = ["ticker", "target_date", "model"]
    prices_before = read_table(db_url, "stock_price", key).drop(columns="updated_at")
    preds_before = read_table(db_url, "stock_pred", pred_key)
    evals_before = read_table(db_url, "stock_pred_eval", pred_key)

    daily = ("daily", "--tickers", "AAPL,MSFT")  # as of the data's last day, as the demo's
    holder = start_run(*daily, env=env)
    killed = wait_for_stage(outputs, "train", holder)
    wait_until(logging_a_training(outputs, killed), holder)  # fitted, logging models
    kill_run(holder)
    record = json.loads((outputs / "runs" / killed / "run.json").read_text())
    assert [s["status"] for s in record["stages"] if s["name"] == "train"] == ["running"]

    status, out, err = finish(start_run(*daily, env=env))

    assert status == 0, out + err
    assert f"marked run {killed} as abandoned: its holder died" in out
    rerun = started_run(out)
    runs = runs_table(db_url)
    assert runs[killed] == "abandoned" and runs[rerun] == "ok"
    assert json.loads((outputs / "runs" / killed / "run.json").read_text())["status"] == (
        "abandoned"
    )
    preds = read_table(db_url, "stock_pred", pred_key)
    assert not preds.duplicated(pred_key).any()
    assert preds[pred_key].equals(preds_before[pred_key])  # the same rows, rewritten in place
    per_target = preds.groupby(["ticker", "target_date"])
    models = ("ar", "blend", "naive", "pooled", "ridge", "xgboost")
    assert (per_target["model"].apply(sorted).map(tuple) == models).all()
    assert (per_target["is_champion"].sum() == 1).all()
    rewritten = preds.loc[preds["run_id"] == rerun]
    assert set(rewritten["ticker"]) == {"AAPL", "MSFT"}
    assert set(rewritten["target_date"]) == {pd.Timestamp("2013-03-04")}
    evals = read_table(db_url, "stock_pred_eval", pred_key)
    assert evals[pred_key].equals(evals_before[pred_key])
    prices = read_table(db_url, "stock_price", key)
    known = preds.merge(
        prices[key].rename(columns={"date": "target_date"}), on=["ticker", "target_date"]
    ).sort_values(pred_key, ignore_index=True)
    assert evals[pred_key].equals(known[pred_key])  # every known target scored, nothing else
    assert not prices.duplicated(key).any()
    assert prices.drop(columns="updated_at").equals(prices_before)  # nothing lost or half-written


# --- a rate-limited ticker, and secrets ---------------------------------------------------------


RATE_LIMITED_DAILY = ("daily", "--source", "yfinance", "--tickers", "AAPL,MSFT", "--as-of", AS_OF)


@pytest.fixture(scope="module")
def rate_limited_run(module_pg_url, tmp_path_factory):
    """A daily run on PostgreSQL (a password in its URL) where Yahoo serves AAPL and rate-limits
    MSFT, started in the background (see `background_runs`)."""
    folder = tmp_path_factory.mktemp("rate_limited")
    outputs, fake = folder / "outputs", folder / "fake_yahoo"
    env = pipeline_env_with_fake(outputs, with_password(module_pg_url, PASSWORD), fake)
    process = start_run(*RATE_LIMITED_DAILY, env=env, left_behind=True)
    yield SimpleNamespace(process=process, outputs=outputs, fake=fake, env=env, db=module_pg_url)
    if process.poll() is None:
        kill_run(process)


@pytest.fixture(scope="module", autouse=True)
def background_runs(request):
    """Runs of this module that need no demo start with it: they go on while the kill in
    training runs. Only when their test is selected; a fixture error fails that test alone."""
    selected = {
        item.originalname for item in request.session.items if item.module is request.module
    }
    if PG_URL and "test_a_rate_limited_ticker_fails_alone_and_no_secret_is_written" in selected:
        with suppress(Exception):
            request.getfixturevalue("rate_limited_run")


@pytest.mark.pipeline
def test_a_rate_limited_ticker_fails_alone_and_no_secret_is_written(rate_limited_run):
    run = rate_limited_run
    outputs, fake, env, pg_url = run.outputs, run.fake, run.env, run.db

    status, out, err = finish(run.process)

    assert status == 1, out + err
    run_id = started_run(out)
    assert runs_table(pg_url) == {run_id: "partial"}
    reason = (
        f"Yahoo rate-limited 'MSFT' (HTTP 429) on all {sources.RETRY_ATTEMPTS} attempts: "
        "try again later"
    )
    # yfinance re-sends a 429 once with its other cookie strategy: two requests an attempt, the
    # batch's download first, then every attempt of the ticker alone.
    assert chart_requests(fake).count("MSFT") == 2 * (1 + sources.RETRY_ATTEMPTS)
    items = read_table(pg_url, "run_item", ["ticker", "stage"])
    assert items.loc[items["ticker"] == "MSFT", ["stage", "status", "error"]].values.tolist() == [
        ["ingest", "failed", reason]
    ]
    aapl = items[items["ticker"] == "AAPL"]
    assert set(aapl["stage"]) >= {"ingest", "features", "train", "predict", "evaluate"}
    assert set(aapl["status"]) <= {"ok", "note"}
    preds = read_table(pg_url, "stock_pred", ["ticker", "model"])
    assert preds["model"].tolist() == ["ar", "blend", "naive", "ridge", "xgboost"]
    assert preds["ticker"].tolist() == ["AAPL"] * 5
    assert pd.to_datetime(preds["target_date"]).tolist() == [pd.Timestamp("2023-07-03")] * 5

    report = run_cli("status", env=env)
    assert report.returncode == 0, report.stderr
    assert f"MSFT: failed at ingest: {reason}" in report.stdout

    # No secret anywhere a run writes: records, notebooks, HTML, MLflow store, logs.
    for path in (p for p in outputs.rglob("*") if p.is_file()):
        assert PASSWORD.encode() not in path.read_bytes(), f"the password leaked into {path}"
    with sqlite3.connect(outputs / "mlflow.db") as mlflow_db:
        assert mlflow_db.execute("SELECT COUNT(*) FROM params").fetchone()[0] > 0
    for log in (out, err, report.stdout, report.stderr):
        assert PASSWORD not in log


def pipeline_env_with_fake(outputs: Path, db_url: str | None, fake: Path, **faults) -> dict:
    faults = {"serve": ["AAPL"], "rate_limit": ["MSFT"], **faults}
    return fake_yahoo_env(base_env(outputs, db_url), fake, **faults)


# --- the network down ---------------------------------------------------------------------------


@pytest.mark.pipeline
def test_the_network_down_for_every_ticker_fails_in_one_line_and_keeps_stored_data(
    pipeline, tmp_path
):
    outputs = copy_of_pipeline_database(pipeline, tmp_path)
    db_url = f"sqlite:///{outputs / 'stockcast.db'}"
    fake = tmp_path / "fake_yahoo"
    env = pipeline_env_with_fake(
        outputs, None, fake, serve=[], rate_limit=[], cut_off=["AAPL", "MSFT"]
    )
    before = {t: read_table(db_url, t, ["ticker"]) for t in ("stock_price", "stock_pred")}
    args = ("daily", "--source", "yfinance", "--tickers", "AAPL,MSFT", "--as-of", "2013-03-01")

    status, out, err = finish(start_run(*args, env=env))

    assert status == 1, out + err
    (line,) = lines_with(out + err, "could not reach Yahoo")
    assert line.startswith("every ticker has failed by stage ingest, stopping: AAPL: ingest: ")
    assert "check the network and try again" in line and "(and 1 more" in line
    assert set(chart_requests(fake)) == {"AAPL", "MSFT"}
    assert runs_table(db_url)[started_run(out)] == "failed"
    for table, rows in before.items():
        assert read_table(db_url, table, ["ticker"]).equals(rows), f"{table} changed"


# --- the database unreachable -------------------------------------------------------------------


def test_an_unreachable_database_exits_2_in_one_line_with_the_password_masked(outputs):
    env = base_env(outputs, "postgresql+psycopg://u:secret@127.0.0.1:1/x")
    for args in (("daily", "--tickers", "AAPL"), ("status",)):
        result = run_cli(*args, env=env, timeout=120)
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stdout == ""
        (line,) = result.stderr.splitlines()
        assert line.startswith("error: database postgresql+psycopg://u:***@127.0.0.1:1/x ")
        assert "secret" not in line
    assert not (outputs / "runs").exists()


# --- the retry policy, in-process ---------------------------------------------------------------


@pytest.fixture
def throttled(monkeypatch) -> yahoo.FakeYahoo:
    fake = yahoo.FakeYahoo().install(monkeypatch)
    fake.rate_limit("MSFT")
    return fake


def test_rate_limits_are_retried_with_exponential_backoff_and_jitter(throttled, monkeypatch):
    waits = []
    monkeypatch.setattr(tenacity.nap, "time", SimpleNamespace(sleep=waits.append))
    result = sources.fetch_prices("yfinance", ["MSFT"], start="2024-03-01", end="2024-03-15")
    assert list(result.failures) == ["MSFT"]
    bases = [
        min(sources.RETRY_WAIT_INITIAL * 2**attempt, sources.RETRY_WAIT_MAX)
        for attempt in range(sources.RETRY_ATTEMPTS - 1)
    ]
    assert len(waits) == len(bases)
    for base, wait in zip(bases, waits, strict=True):
        assert base <= wait <= base + sources.RETRY_JITTER
    assert waits != bases  # jittered, so that throttled clients do not retry in step
    assert sum(waits) <= sources.RETRY_TOTAL_SECONDS


def test_retries_stop_at_the_time_bound_before_the_attempts_run_out(throttled, monkeypatch):
    for name, value in {
        "RETRY_ATTEMPTS": 10_000,
        "RETRY_WAIT_INITIAL": 0.02,
        "RETRY_WAIT_MAX": 0.02,
        "RETRY_JITTER": 0.0,
        "RETRY_TOTAL_SECONDS": 0.5,
    }.items():
        monkeypatch.setattr(sources, name, value)
    started = time.monotonic()
    result = sources.fetch_prices("yfinance", ["MSFT"], start="2024-03-01", end="2024-03-15")
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 2.0
    attempts = len(throttled.chart_requests) // 2
    assert 1 < attempts < 10_000
    assert result.failures["MSFT"].startswith("Yahoo rate-limited 'MSFT' (HTTP 429) on all ")


# --- a chain run with faked notebooks (tests/fake_papermill.py): the run's records ---------------

DAILY = ("daily", "--tickers", "AAPL,MSFT", "--as-of", "2013-03-01")


def run_record(outputs: Path, run_id: str) -> dict:
    return json.loads((outputs / "runs" / run_id / "run.json").read_text())


def test_a_faked_daily_chain_runs_every_stage_and_records_failed_tickers(
    outputs, monkeypatch, capsys
):
    from fake_papermill import FakePapermill

    from runner.cli import main

    fake = FakePapermill({"stages": {"features": {"fail_tickers": {"MSFT": "too short"}}}})
    fake.install(monkeypatch)
    assert main(list(DAILY)) == 1
    out = capsys.readouterr().out
    run_id = started_run(out)
    assert [name for name, _ in fake.calls] == [
        "ingest",
        "features",
        "train",
        "predict",
        "evaluate",
        "dashboard",
    ]
    assert fake.calls[2][1]["tickers"] == ["AAPL"]  # MSFT left out after it failed
    assert runs_table(f"sqlite:///{outputs / 'stockcast.db'}") == {run_id: "partial"}
    record = run_record(outputs, run_id)
    assert record["status"] == "partial" and record["failed_tickers"] == ["MSFT"]
    assert all(stage["html"] for stage in record["stages"])


def test_a_full_disk_mid_run_fails_in_one_line_and_closes_the_run(outputs, monkeypatch, capsys):
    """papermill's writer raising ENOSPC (patched), as a full disk makes it."""
    from fake_papermill import FakePapermill

    from runner.cli import main

    FakePapermill({"stages": {"train": "enospc"}}).install(monkeypatch)
    assert main(list(DAILY)) == 1
    out, err = capsys.readouterr()
    run_id = started_run(out)
    executed = outputs / "runs" / run_id / "04_train.ipynb"
    (line,) = err.splitlines()
    assert line == (
        f"error: cannot write {executed} (No space left on device): free space on that disk, "
        "or set STOCKCAST_OUTPUTS to a folder on another one"
    )
    assert runs_table(f"sqlite:///{outputs / 'stockcast.db'}") == {run_id: "failed"}
    record = run_record(outputs, run_id)
    assert record["status"] == "failed"
    assert [(s["name"], s["status"]) for s in record["stages"]][-1] == ("train", "failed")
    assert not executed.exists()  # the truncated copy, which nothing could open, is removed


# --- faults only a real process meets: SIGTERM, a full or read-only disk -------------------------


def assert_closed_as(
    outputs: Path, run_id: str, status: str, stage: str, stage_status: str, db_url=None
):
    assert runs_table(db_url or f"sqlite:///{outputs / 'stockcast.db'}") == {run_id: status}
    record = run_record(outputs, run_id)
    assert record["status"] == status and record["finished_at"]
    assert [(s["name"], s["status"]) for s in record["stages"]][-1] == (stage, stage_status)
    with hold_lock(settings_for(outputs, db_url), "daily-20130301T220000Z-next00"):
        pass  # released: the next run is not refused


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigterm_closes_the_run_as_interrupted_and_releases_the_lock(
    outputs, tmp_path, backend, request
):
    db_url = database_url(backend, request)
    env = base_env(outputs, db_url)
    process = start_fake_run(tmp_path, {"stages": {"train": "block"}}, *DAILY, env=env)
    run_id = wait_for_stage(outputs, "train", process)
    process.send_signal(signal.SIGTERM)
    status, out, err = finish(process, timeout=120)

    assert status == 143, out + err
    assert err.splitlines() == [
        "error: terminated by SIGTERM: the run, if one had started, is recorded as interrupted"
    ]
    assert f"run {run_id} interrupted: " in out
    assert_closed_as(outputs, run_id, "interrupted", "train", "interrupted", db_url)


def test_sigterm_while_a_kernel_executes_stops_it_and_closes_the_run(outputs, tmp_path):
    """The same through real papermill and a real kernel (a notebook that sleeps)."""
    import nbformat

    started = tmp_path / "kernel_started"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(f"import pathlib, time\npathlib.Path({str(started)!r}).touch()"),
        nbformat.v4.new_code_cell("time.sleep(600)"),
    ]
    notebook.metadata["kernelspec"] = {
        "name": "stockcast",
        "display_name": "x",
        "language": "python",
    }
    nbformat.write(notebook, tmp_path / "sleep.ipynb")
    spec = {"stages": {"features": {"real": str(tmp_path / "sleep.ipynb")}}}
    process = start_fake_run(tmp_path, spec, *DAILY, env=base_env(outputs))
    run_id = wait_for_stage(outputs, "features", process)
    wait_until(started.exists, process)
    kernels = _descendants(process.pid)
    assert kernels
    process.send_signal(signal.SIGTERM)
    status, out, err = finish(process, timeout=120)

    assert status == 143, out + err
    assert len(err.splitlines()) == 1, err
    assert_closed_as(outputs, run_id, "interrupted", "features", "interrupted")
    wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in kernels), timeout=30)


def private_mount(options: str, folder: Path, command: list[str], copy_to: Path) -> list[str]:
    """`command` in a mount namespace of its own where `folder` is a fresh tmpfs (`options`);
    what it left there is copied to `copy_to` when it ends. Skips where mounting is refused."""
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "mount", "-t", "tmpfs", "t", "/mnt"],
        capture_output=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {probe.stderr.decode().strip()}")
    folder.mkdir(parents=True, exist_ok=True)
    script = (
        'mount -t tmpfs -o "$1" stockcast_test "$2" || exit 99; '
        'dir="$2"; copy="$3"; shift 3; "$@"; status=$?; cp -a "$dir/." "$copy/"; exit $status'
    )
    copy_to.mkdir(parents=True, exist_ok=True)
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
        options,
        str(folder),
        str(copy_to),
        *command,
    ]


def test_a_disk_that_fills_mid_run_fails_in_one_line_and_closes_the_run(outputs, tmp_path):
    """A real full disk: the outputs folder is an 8 MB tmpfs that a stage fills."""
    import fake_papermill

    spec_path = tmp_path / "fake_stages.json"
    spec_path.write_text(json.dumps({"stages": {"features": "fill_disk"}}))
    after = tmp_path / "after"
    command = private_mount(
        "size=8m", outputs, fake_papermill.command(spec_path, *DAILY), copy_to=after
    )
    result = subprocess.run(
        command, cwd=REPO, env=base_env(outputs), capture_output=True, text=True, timeout=600
    )

    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: cannot write ") and "02_features.ipynb" in line
    assert "(No space left on device): free space on that disk" in line
    run_id = started_run(result.stdout)
    assert_closed_as(after, run_id, "failed", "features", "failed")
    assert not (after / "runs" / run_id / "02_features.ipynb").exists()


@pytest.mark.parametrize(
    ("case", "options", "expected"),
    [
        ("read-only", "ro", "is not writable (Read-only file system): make the folder writable"),
        ("full", "size=64k", "is full (No space left on device): free space on that disk"),
        ("read-only parent", "ro", "cannot be created (Read-only file system): set STOCKCAST"),
    ],
)
def test_an_unwritable_outputs_folder_exits_2_in_one_line_before_the_run(
    outputs, tmp_path, case, options, expected
):
    mount = tmp_path / "mount" if case == "read-only parent" else outputs
    folder = mount / "outputs" if case == "read-only parent" else outputs
    fill = f"head -c 1M /dev/zero > {folder}/filler 2>/dev/null; " if case == "full" else ""
    runner = shlex.join([sys.executable, "-m", "runner", *DAILY])
    after = tmp_path / "after"
    command = private_mount(options, mount, ["sh", "-c", fill + runner], copy_to=after)
    result = subprocess.run(
        command, cwd=REPO, env=base_env(folder), capture_output=True, text=True, timeout=600
    )

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: outputs folder {folder} {expected}"), line
    assert sorted(p.name for p in after.iterdir()) == (["filler"] if case == "full" else [])
