"""executors.py and cluster.py: serial, loky processes and a Dask LocalCluster give the same
results in the same order; a ticker's error, or a worker dying under it, fails that ticker alone;
bad executors, SQLite with Dask and an unreachable scheduler are one-line bad input; a run joins
an existing cluster."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pandas as pd
import pytest
from executor_tasks import die_once, double, kill_for_bbb, nap, process_id
from synthetic import make_panel

from stockcast import cluster, executors
from stockcast.backfill import replay
from stockcast.cluster import check_cluster_settings
from stockcast.config import Settings
from stockcast.errors import BadInput
from stockcast.executors import Executor, as_executor, map_tickers
from stockcast.features import make_features
from stockcast.train import TrainSettings, fit_tickers, forecast_tickers, scores_table

FAST = {"xgboost": {"n_estimators": 30}}
SMALL = TrainSettings(n_splits=3, train_window=300, min_train_rows=150, retrain_every=10)
TICKERS = ("AAA", "BBB", "CCC", "DDD")
PROCESSES = Executor("processes", workers=2)
DASK = Executor("dask", workers=2)


@pytest.fixture(scope="module")
def features():
    return make_features(make_panel(TICKERS, n=340))


@pytest.fixture(scope="module")
def serial_fit(features):
    params = dict.fromkeys(TICKERS, FAST)
    return fit_tickers(features, params, SMALL, executor="serial")


@pytest.fixture(scope="module")
def local_cluster():
    """The module's LocalCluster of 2 worker processes, closed at the end."""
    client = cluster.dask_client(None, 2)
    yield client
    local = client.cluster
    client.close()
    local.close()
    cluster.dask_client.cache_clear()


def assert_same_fit(fitted, serial_fit, features):
    (trained, failures), (expected, expected_failures) = fitted, serial_fit
    assert list(trained) == list(expected) and set(trained) == set(TICKERS)
    assert failures == expected_failures == {}
    pd.testing.assert_frame_equal(scores_table(trained), scores_table(expected))
    pd.testing.assert_frame_equal(
        forecast_tickers(trained, features), forecast_tickers(expected, features)
    )


def test_processes_fit_as_serial(features, serial_fit):
    params = dict.fromkeys(TICKERS, FAST)
    assert_same_fit(fit_tickers(features, params, SMALL, PROCESSES), serial_fit, features)


def test_dask_local_cluster_fits_and_replays_as_serial(features, serial_fit, local_cluster):
    params = dict.fromkeys(TICKERS, FAST)
    assert_same_fit(fit_tickers(features, params, SMALL, DASK), serial_fit, features)
    days = features["date"].drop_duplicates().sort_values()
    window = (days.iloc[-12], days.iloc[-1])
    serial, _ = replay(features, None, *window, SMALL, "serial")
    on_dask, failures = replay(features, None, *window, SMALL, DASK)
    assert not failures
    pd.testing.assert_frame_equal(on_dask, serial)


@pytest.mark.parametrize("executor", ["serial", PROCESSES, DASK], ids=str)
def test_an_error_fails_its_ticker_alone_in_order(executor, request):
    if executor == DASK:
        request.getfixturevalue("local_cluster")
    tasks = {"ZZZ": (3,), "BAD": (-1,), "AAA": (5,)}
    results, failures = map_tickers(double, tasks, executor)
    assert list(results.items()) == [("ZZZ", 6), ("AAA", 10)]
    assert failures == {"BAD": "ValueError: negative value -1"}


@pytest.mark.parametrize("executor", [PROCESSES, DASK], ids=str)
def test_a_worker_killed_mid_task_is_retried(executor, tmp_path, request):
    if executor == DASK:
        request.getfixturevalue("local_cluster")
    marker = str(tmp_path / "died")
    tasks = {"AAA": (marker, 1), "BBB": (marker, 2), "CCC": (marker, 3)}
    results, failures = map_tickers(die_once, tasks, executor)
    assert Path(marker).exists()  # a worker did die
    assert failures == {} and results == {"AAA": 2, "BBB": 4, "CCC": 6}


@pytest.mark.parametrize(
    "executor",
    [
        PROCESSES,
        pytest.param(
            DASK,
            marks=pytest.mark.xfail(
                strict=False,
                reason="known: when a task kills worker after worker, the scheduler may also "
                "blame a task it had just moved to a dying worker (seen in 1 of 2 full-suite "
                "runs); the other tickers then fail too, never silently",
            ),
        ),
    ],
    ids=str,
)
def test_a_ticker_that_kills_every_worker_fails_alone(executor, request):
    if executor == DASK:
        request.getfixturevalue("local_cluster")

    tickers = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF")  # several queued behind the killer
    results, failures = map_tickers(kill_for_bbb, {t: (t,) for t in tickers}, executor)
    assert list(failures) == ["BBB"] and results == {t: t for t in tickers if t != "BBB"}
    assert "\n" not in failures["BBB"]
    assert ("KilledWorker" if executor == DASK else "worker process died") in failures["BBB"]


def test_auto_runs_a_large_map_on_processes_and_a_small_one_here():
    """`auto`, the default, pays the worker start-up only where the map is big enough."""
    auto = Executor("auto", workers=2)
    assert auto.for_tickers(19).kind == "serial"
    assert auto.for_tickers(20) == Executor("processes", workers=2)
    assert (
        Executor("auto", workers=1).for_tickers(500).kind == "serial"
    )  # one core: nothing to share
    small, _ = map_tickers(process_id, {f"T{i:02d}": (i,) for i in range(4)}, auto)
    large, _ = map_tickers(process_id, {f"T{i:02d}": (i,) for i in range(20)}, auto)
    assert set(small.values()) == {os.getpid()}
    assert os.getpid() not in set(large.values())


@pytest.mark.parametrize("executor", ["serial", PROCESSES, DASK])
def test_then_handles_each_success_here_as_it_arrives(executor, request):
    """map_tickers' `then` (04_train logs to MLflow with it) runs in this process on every
    success, not on failures, and on workers it does not wait for the map to end: FAST is
    handled while SLOW still sleeps in its worker."""
    if executor is DASK:
        request.getfixturevalue("local_cluster")
    handled = {}

    def then(ticker, result):
        handled[ticker] = (os.getpid(), time.monotonic(), result)

    tasks = {"FAST": (0.0,), "SLOW": (3.0,), "BAD": (-1.0,)}
    results, failures = map_tickers(nap, tasks, executor, then=then)
    assert list(failures) == ["BAD"]
    assert set(handled) == {"FAST", "SLOW"}
    assert {pid for pid, _, _ in handled.values()} == {os.getpid()}
    assert {ticker: result for ticker, (_, _, result) in handled.items()} == results
    if executor != "serial":
        assert handled["FAST"][1] < results["SLOW"]


@pytest.mark.parametrize(
    ("kind", "workers", "scheduler", "message"),
    [
        ("threads", None, None, "executor 'threads' is unknown: use one of auto, serial"),
        ("processes", 0, None, "workers 0 is not a count"),
        ("dask", None, "localhost:8786", "is not an address: use tcp://HOST:PORT"),
        ("processes", None, "tcp://h:8786", "add --executor dask, or drop --scheduler"),
    ],
)
def test_a_bad_executor_is_one_line_bad_input(kind, workers, scheduler, message):
    with pytest.raises(BadInput, match=message):
        Executor(kind, workers, scheduler)


def test_dask_on_sqlite_is_refused_naming_what_to_set(tmp_path):
    sqlite = Settings(tmp_path, f"sqlite:///{tmp_path}/s.db", f"sqlite:///{tmp_path}/m.db")
    with pytest.raises(BadInput) as refused:
        check_cluster_settings(DASK, sqlite)
    message = str(refused.value)
    assert "STOCKCAST_DB_URL and MLFLOW_TRACKING_URI point to a local SQLite file" in message
    assert "postgresql+psycopg://" in message and "http://HOST:5000" in message
    half = Settings(tmp_path, "postgresql+psycopg://u@h/db", f"sqlite:///{tmp_path}/m.db")
    with pytest.raises(BadInput, match="MLFLOW_TRACKING_URI points to a local SQLite file"):
        check_cluster_settings(DASK, half)
    check_cluster_settings(DASK, Settings(tmp_path, "postgresql+psycopg://u@h/db", "http://m:5000"))
    check_cluster_settings(PROCESSES, sqlite)  # one machine's processes never open the files


def test_an_unreachable_scheduler_is_bad_input(monkeypatch):
    monkeypatch.setattr(cluster, "SCHEDULER_TIMEOUT", "1s")
    with pytest.raises(BadInput, match=r"Dask scheduler tcp://127.0.0.1:9 cannot be reached"):
        cluster.check_scheduler("tcp://127.0.0.1:9")


def test_a_dask_run_on_sqlite_exits_2_writing_nothing(outputs, capsys):
    from runner.cli import main

    assert main(["daily", "--tickers", "AAPL", "--executor", "dask"]) == 2
    error = capsys.readouterr().err
    assert (
        error.startswith("error: the dask executor needs a PostgreSQL store")
        and error.count("\n") == 1
    )
    assert list(outputs.iterdir()) == []  # no database, lock or run folder


def test_a_run_with_an_unreachable_scheduler_exits_2_writing_nothing(outputs, monkeypatch, capsys):
    from runner.cli import main

    monkeypatch.setattr(cluster, "SCHEDULER_TIMEOUT", "1s")
    monkeypatch.setenv("STOCKCAST_DB_URL", "postgresql+psycopg://postgres@127.0.0.1:9/none")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("STOCKCAST_DASK_SCHEDULER", "tcp://127.0.0.1:9")
    assert main(["daily", "--tickers", "AAPL", "--executor", "dask"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: Dask scheduler tcp://127.0.0.1:9 cannot be reached (")
    assert error.endswith("start it, or fix --scheduler / STOCKCAST_DASK_SCHEDULER\n")
    assert error.count("\n") == 1 and list(outputs.iterdir()) == []
    # the flag wins over the environment, and is checked the same way
    assert main(["daily", "--executor", "dask", "--scheduler", "tcp://127.0.0.1:7"]) == 2
    assert "tcp://127.0.0.1:7 cannot be reached" in capsys.readouterr().err


@pytest.mark.parametrize("executor", ["serial", PROCESSES], ids=str)
def test_a_large_map_reports_its_progress_on_stderr(executor, monkeypatch, capsys):
    monkeypatch.setattr(executors, "PROGRESS_SECONDS", 0.0)
    tasks = {f"T{i:02d}": (i - 1,) for i in range(25)}  # T00 fails
    results, failures = map_tickers(double, tasks, executor)
    # a tqdm bar: each redraw starts with a carriage return, one per finished ticker here
    lines = [line for line in capsys.readouterr().err.split("\r") if line.strip()]
    assert len(results) == 24 and list(failures) == ["T00"] and len(lines) >= 26
    label = f"progress double on {as_executor(executor).describe()}: "
    assert all(line.startswith(label) for line in lines)
    assert "  0% |" in lines[0] and "0 of 25 tickers done, 0 failed" in lines[0]
    assert "100% |####################| 25 of 25 tickers done, 1 failed, " in lines[-1]
    assert re.search(r"\d\d:\d\d elapsed, \d\d:\d\d left$", lines[-1].rstrip()), lines[-1]
    map_tickers(double, dict(list(tasks.items())[:19]), executor)
    assert capsys.readouterr().err == ""  # a small map says nothing


def test_the_runner_logs_only_the_progress_lines_of_a_notebook():
    from runner.execute import ProgressLines

    logged = []
    stream = ProgressLines(logged.append)
    bar = "progress fit_ticker on serial: {}% |{}| {} of 40 tickers done, {} failed, 00:{} elapsed"
    stream.write("a warning\n\r" + bar.format(50, "#" * 10 + " " * 10, 20, 0, 31))
    stream.write("\r" + bar.format(100, "#" * 20, 40, 1, 59) + "\n")
    assert logged == [
        bar.format(50, "#" * 10 + " " * 10, 20, 0, 31).removeprefix("progress "),
        bar.format(100, "#" * 20, 40, 1, 59).removeprefix("progress "),
    ]


@pytest.fixture(scope="module")
def existing_cluster(tmp_path_factory):
    """A scheduler and a worker started as an operator starts them (the `dask` command), on a
    free port of this machine: the cluster a run joins with --scheduler."""
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).with_name("dask"))
    tests = str(Path(__file__).parent)
    # The workers import the test tasks; the scheduler runs as the README advises.
    env = {
        **os.environ,
        "PYTHONPATH": tests,
        "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0",
    }
    log = tmp_path_factory.mktemp("dask") / "cluster.log"
    with log.open("w") as sink:
        processes = [
            subprocess.Popen(
                [
                    dask,
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--dashboard-address",
                    ":0",
                ],  # fmt: skip
                stdout=sink,
                stderr=sink,
                env=env,
            ),
            subprocess.Popen(
                [
                    dask,
                    "worker",
                    address,
                    "--nworkers",
                    "2",
                    "--nthreads",
                    "1",
                    "--dashboard-address",
                    ":0",
                    "--death-timeout",
                    "60",
                ],  # fmt: skip
                stdout=sink,
                stderr=sink,
                env=env,
            ),
        ]
    try:
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        cluster.dask_client.cache_clear()


def test_a_run_joins_an_existing_cluster(existing_cluster):
    cluster.check_scheduler(existing_cluster)  # answers: no error
    on_cluster = Executor("dask", scheduler=existing_cluster)
    tasks = {"ZZZ": (3,), "BAD": (-1,), "AAA": (5,)}
    results, failures = map_tickers(double, tasks, on_cluster)
    assert list(results.items()) == [("ZZZ", 6), ("AAA", 10)]
    assert failures == {"BAD": "ValueError: negative value -1"}
    client = cluster.dask_client(existing_cluster, None)
    assert client.scheduler.address == existing_cluster and client.cluster is None
    client.close()
