"""One run at a time: a second run exits 3 naming the first and writes nothing; a killed
holder blocks nobody and its run becomes `abandoned` (SQLite file lock, PostgreSQL advisory lock).

The helpers here start `python -m runner` as an operator (or cron) would, in its own process
group, and kill a run as a crash would: the runner and every process it started (its kernel).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import REPO, TEST_CONFIG, pipeline_env

from runner.lock import hold_lock, lock_file
from stockcast import store
from stockcast.config import Settings
from stockcast.errors import LockHeld

RUN_ID = re.compile(r"\b(?:daily|weekly|demo|backfill)-\d{8}T\d{6}Z-[0-9a-f]{6}\b")


# --- running and killing runs -----------------------------------------------------------------

_started: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def no_run_left_behind():
    """Kill whatever run a failing test left running."""
    yield
    while _started:
        process = _started.pop()
        if process.poll() is None:
            kill_run(process)


def start_run(*args: str, env: dict, left_behind: bool = False) -> subprocess.Popen:
    """`python -m runner --config <test config> <args>` in its own process group; killed after
    the test unless `left_behind` (a module's fixture then ends it)."""
    command = [sys.executable, "-m", "runner", "--config", str(TEST_CONFIG), *args]
    return popen(command, env, left_behind)


def popen(command: list[str], env: dict, left_behind: bool = False) -> subprocess.Popen:
    """`command` from the repository in its own process group, its output captured."""
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    if not left_behind:
        _started.append(process)
    return process


def started_run(out: str) -> str:
    """The run id a run announces in its first line: `run <id>: <kind> as of ...`."""
    return re.search(rf"^run ({RUN_ID.pattern}): ", out, re.MULTILINE).group(1)


def finish(process: subprocess.Popen, timeout: float = 600) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def wait_until(condition, process: subprocess.Popen | None = None, timeout: float = 180):
    """Poll `condition()` until it returns something truthy; fail if `process` ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the run ended ({process.returncode}) while waited on:\n{out}\n{err}")
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {condition.__name__}")


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_run(process: subprocess.Popen) -> None:
    """SIGKILL the runner's process group and every process it started, as a crash would.

    Notebook kernels run in a session of their own, so killing the group alone leaves them
    running for up to a second; a container or machine crash takes them too.
    """
    kernels = _descendants(process.pid)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it had ended already
    for pid in kernels:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.communicate(timeout=30)
    wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in kernels), timeout=30)


# --- reading what a run left ------------------------------------------------------------------


def runs_table(db_url: str) -> dict[str, str]:
    """run_id -> status of every pipeline_run row ({} before the tables exist)."""
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(store.pipeline_run.c.run_id, store.pipeline_run.c.status))
            return dict(rows.all())
    except sa.exc.SQLAlchemyError:
        return {}


def run_item_ids(db_url: str) -> set[str]:
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        return set(conn.execute(sa.select(store.run_item.c.run_id).distinct()).scalars())


def run_folders(outputs: Path) -> list[str]:
    runs = outputs / "runs"
    return (
        sorted(p.name for p in runs.iterdir() if RUN_ID.fullmatch(p.name)) if runs.is_dir() else []
    )


def running_run(db_url: str) -> str | None:
    """The run id of the row marked `running`, once the run holding the lock has written it."""
    running = [run for run, status in runs_table(db_url).items() if status == "running"]
    return running[0] if running else None


def wait_for_stage(outputs: Path, stage: str, process: subprocess.Popen) -> str:
    """Wait until a run's run.json says `stage` is executing; return that run's id."""

    def stage_running():
        for run_id in run_folders(outputs):
            try:
                record = json.loads((outputs / "runs" / run_id / "run.json").read_text())
            except (OSError, ValueError):
                continue
            if any(s["name"] == stage and s["status"] == "running" for s in record["stages"]):
                return run_id
        return None

    stage_running.__name__ = f"stage {stage} to run"
    return wait_until(stage_running, process)


def with_password(url: str, password: str) -> str:
    """The PostgreSQL URL with a password for its user (the test server trusts any)."""
    return re.sub(r"://([^:@/]+)@", rf"://\1:{password}@", url, count=1)


def database_url(backend: str, request) -> str | None:
    """None for the default SQLite database in `outputs`; a fresh schema's URL for PostgreSQL."""
    return request.getfixturevalue("pg_url") if backend == "postgresql" else None


def first_to_exit(processes: list[subprocess.Popen], timeout: float = 120) -> subprocess.Popen:
    def ended():
        return next((p for p in processes if p.poll() is not None), None)

    ended.__name__ = "one of the runs to exit"
    return wait_until(ended, timeout=timeout)


# --- the lock itself, in-process --------------------------------------------------------------


def settings_for(outputs: Path, db_url: str | None = None) -> Settings:
    outputs.mkdir(parents=True, exist_ok=True)
    url = db_url or f"sqlite:///{outputs / 'stockcast.db'}"
    return Settings(outputs=outputs, db_url=url, tracking_uri=f"sqlite:///{outputs / 'mlflow.db'}")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_held_lock_refuses_a_second_holder_and_names_the_first(backend, tmp_path, request):
    settings = settings_for(tmp_path / "outputs", database_url(backend, request))
    with hold_lock(settings, "daily-20130301T220000Z-aaaaaa"):
        with pytest.raises(LockHeld, match="run daily-20130301T220000Z-aaaaaa") as refused:
            with hold_lock(settings, "daily-20130301T220001Z-bbbbbb"):
                pass
        assert refused.value.exit_code == 3
        assert "wait for it to finish (this run did nothing)" in str(refused.value)
    with hold_lock(settings, "daily-20130301T220002Z-cccccc"):  # released on exit
        pass


def test_the_sqlite_lock_sits_beside_a_database_outside_the_outputs(tmp_path):
    outputs = tmp_path / "outputs"
    default = settings_for(outputs)
    assert lock_file(default) == default.lock_path
    elsewhere = settings_for(outputs, f"sqlite:///{tmp_path / 'shared' / 'prices.db'}")
    assert lock_file(elsewhere) == tmp_path / "shared" / "prices.db.lock"


def test_the_advisory_lock_is_one_per_schema_however_the_url_names_the_server(pg_url, tmp_path):
    by_address = settings_for(tmp_path / "a", pg_url)
    by_name = settings_for(tmp_path / "b", pg_url.replace("127.0.0.1", "localhost"))
    assert by_address.db_url != by_name.db_url
    with hold_lock(by_address, "daily-20130301T220000Z-aaaaaa"):
        with pytest.raises(LockHeld, match="daily-20130301T220000Z-aaaaaa"):
            with hold_lock(by_name, "daily-20130301T220001Z-bbbbbb"):
                pass


def test_a_record_left_by_a_dead_holder_does_not_block(tmp_path):
    settings = settings_for(tmp_path / "outputs")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    record = {"run_id": "daily-20130301T220000Z-dead00", "pid": int(dead.stdout), "host": ""}
    record["host"] = socket.gethostname()
    settings.lock_path.write_text(json.dumps(record))
    with hold_lock(settings, "daily-20130301T220001Z-alive0"):
        assert "alive0" in settings.lock_path.read_text()


# --- whole runs, as an operator starts them, with faked notebooks ------------------------------
# The lock is the runner's: these runs are real runner processes whose notebooks
# tests/fake_papermill.py fakes (a stage can hold until the test lets it go, or block until
# killed), so a race is decided by the lock and not by how long a real chain takes.


def start_fake_run(tmp_path: Path, spec: dict, *args: str, env: dict) -> subprocess.Popen:
    """A runner process (its own process group) whose notebooks tests/fake_papermill.py fakes
    as `spec` says."""
    import fake_papermill

    spec_path = tmp_path / f"fake_stages_{len(_started)}.json"
    spec_path.write_text(json.dumps(spec))
    return popen(fake_papermill.command(spec_path, *args), env)


def test_two_runs_started_together_on_a_fresh_setup_one_exits_0_the_other_3(tmp_path):
    outputs = tmp_path / "outputs"  # a fresh clone: no outputs folder, database or lock yet
    env = pipeline_env(outputs)
    release = tmp_path / "release"  # the winner's ingest holds until the loser has exited
    spec = {"stages": {"ingest": {"wait_for": str(release)}}}
    runs = [start_fake_run(tmp_path, spec, "daily", "--tickers", "AAPL", env=env) for _ in range(2)]
    loser = first_to_exit(runs)
    release.touch()
    (winner,) = [run for run in runs if run is not loser]
    loser_status, loser_out, loser_err = finish(loser)
    status, out, err = finish(winner)

    assert (loser_status, status) == (3, 0), out + err + loser_err
    run_id = started_run(out)
    assert loser_out == ""
    assert loser_err.splitlines() == [
        f"error: run {run_id} (pid {winner.pid}) holds {outputs / 'stockcast.lock'}: "
        "wait for it to finish (this run did nothing)"
    ]
    db_url = f"sqlite:///{outputs / 'stockcast.db'}"
    assert run_folders(outputs) == [run_id]
    assert runs_table(db_url) == {run_id: "ok"}
    assert run_item_ids(db_url) == {run_id}


def test_two_runs_started_together_on_postgresql_one_holds_the_lock(pg_url, tmp_path):
    outputs = tmp_path / "outputs"
    db_url = with_password(pg_url, "s3cretpass")
    env = pipeline_env(outputs, db_url)
    spec = {"stages": {"ingest": "block"}}
    runs = [start_fake_run(tmp_path, spec, "daily", "--tickers", "AAPL", env=env) for _ in range(2)]
    loser = first_to_exit(runs)
    (winner,) = [run for run in runs if run is not loser]
    try:
        status, out, err = finish(loser)
        assert status == 3, out + err
        holder = wait_until(lambda: running_run(pg_url), winner)
        assert out == ""
        assert err.splitlines() == [
            f"error: run {holder} holds the lock on {pg_url.replace('postgres@', 'postgres:***@')}"
            ": wait for it to finish (this run did nothing)"
        ]
        assert "s3cretpass" not in err
        assert run_folders(outputs) == [holder]
        assert runs_table(pg_url) == {holder: "running"}
    finally:
        kill_run(winner)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_killed_holder_does_not_block_the_next_run_and_is_abandoned(backend, tmp_path, request):
    outputs = tmp_path / "outputs"
    db_url = database_url(backend, request)
    env = pipeline_env(outputs, db_url)
    db_url = db_url or f"sqlite:///{outputs / 'stockcast.db'}"
    daily = ("daily", "--tickers", "AAPL", "--as-of", "2013-03-01")
    holder = start_fake_run(tmp_path, {"stages": {"ingest": "block"}}, *daily, env=env)
    killed = wait_for_stage(outputs, "ingest", holder)
    kill_run(holder)

    status, out, err = finish(start_fake_run(tmp_path, {}, *daily, env=env))

    assert status == 0, out + err
    assert f"marked run {killed} as abandoned: its holder died" in out
    following = started_run(out)
    assert runs_table(db_url) == {killed: "abandoned", following: "ok"}
    record = json.loads((outputs / "runs" / killed / "run.json").read_text())
    assert record["status"] == "abandoned"
