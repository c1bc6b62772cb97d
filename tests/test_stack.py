"""The compose stack, run natively (no Docker): compose.yml's own commands, environments and
healthchecks, with container paths, hosts and ports swapped for local ones, on two fresh
PostgreSQL databases of the machine's server (one for stockcast, one for MLflow).

In the order a user meets it: MLflow, the API, the dashboard and JupyterLab start; the API answers
on the empty database; the crontab's daily run (small settings: tests/pipeline.test.yaml, AAPL
from the sample) logs to the MLflow server over HTTP (artifacts proxied, `mlflow-artifacts:`
URIs); then the API serves the run's prediction, the dashboard renders, MLflow holds and serves
the champion, and every healthcheck of compose.yml passes.

PostgreSQL: STOCKCAST_TEST_PG_URL's server, else postgres@127.0.0.1:5432. Skipped when that
server cannot be reached, unless STOCKCAST_TEST_PG_URL is set (then it fails).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import suppress
from pathlib import Path

import httpx
import psutil
import pytest
import sqlalchemy as sa
import yaml
from conftest import REPO, TEST_CONFIG
from dotenv import dotenv_values

from stockcast.config import mask_url

pytestmark = pytest.mark.stack
PG_URL = os.environ.get("STOCKCAST_TEST_PG_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/"
COMPOSE = yaml.safe_load((REPO / "compose.yml").read_text())
SERVICES = COMPOSE["services"]
# What the test starts (runner: see `cron`), the `dask` profile included: the daily run computes
# on its cluster, as an operator who started the stack with `--profile dask` has it.
SERVERS = ("mlflow", "api", "dashboard", "lab", "dask-scheduler", "dask-worker")
HEALTH_URL = re.compile(r"^https?://127\.0\.0\.1:(\d+)")
TICKER = "AAPL"
MODEL = f"stockcast-{TICKER}"
BIN = Path(sys.executable).parent  # the image puts /app/.venv/bin first on PATH: so do we
MLFLOW_START = 600  # seconds: MLflow's server took 90 s in Docker and 211 s here under load


# --- compose.yml, made local ---------------------------------------------------------------------

VARIABLE = re.compile(r"\$\{([A-Za-z_]\w*)(?:(:?)([-?])([^{}]*))?\}")


def interpolate(text: str, variables: dict[str, str]) -> str:
    """compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, innermost first."""

    def value(match: re.Match) -> str:
        name, colon, operator, word = match.groups()
        current = variables.get(name)
        missing = current is None or (colon == ":" and current == "")
        if operator == "?" and missing:
            pytest.fail(f"docker compose would refuse to start: {word}")
        return word if operator == "-" and missing else current or ""

    while VARIABLE.search(text):
        text = VARIABLE.sub(value, text)
    return text


def dot_env() -> dict[str, str]:
    """What a user's .env holds: .env.example with the two secrets it asks for filled in."""
    variables = {key: value or "" for key, value in dotenv_values(REPO / ".env.example").items()}
    variables.update(
        POSTGRES_PASSWORD="stack0test",
        JUPYTER_TOKEN=uuid.uuid4().hex,
        STOCKCAST_DASHBOARD_TOKEN=uuid.uuid4().hex,  # optional: set, so the token path is run
        STOCKCAST_DASK_SCHEDULER="tcp://dask-scheduler:8786",  # what .env.example says to set
    )
    return variables


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Local:
    """Where each container address, port and path of compose.yml lives on this machine."""

    def __init__(self, folder: Path, server: sa.engine.URL, databases: dict[str, str]):
        published = [p.rsplit(":", 1)[1] for s in SERVICES.values() for p in s.get("ports", [])]
        probed = [  # a port only a healthcheck reaches (a dask worker's, never published)
            match[1]
            for service in SERVICES.values()
            for arg in service["healthcheck"]["test"]
            if (match := HEALTH_URL.match(str(arg)))
        ]
        self.ports = {port: str(free_port()) for port in {*published, *probed}}
        self.paths = {
            "/data/mlartifacts": folder / "mlartifacts",
            "/data/outputs": folder / "outputs",
            "/app": REPO,  # the Dockerfile's WORKDIR, a copy of the repository
        }
        self.server, self.databases = server, databases

    def database_url(self, url: str) -> str:
        """An in-stack PostgreSQL URL (host `postgres`) on this machine's server and database."""
        parsed = sa.engine.make_url(url)
        assert parsed.host == "postgres", url
        local = self.server.set(
            drivername=parsed.drivername, database=self.databases[parsed.database]
        )
        return local.render_as_string(hide_password=False)

    def __call__(self, text: str) -> str:
        """`text` with container addresses, ports and paths replaced by local ones."""
        if text.startswith("postgresql"):
            return self.database_url(text)
        text = text.replace("0.0.0.0", "127.0.0.1")
        text = re.sub(rf"(?<=://)(?:{'|'.join(SERVICES)})(?=:\d)", "127.0.0.1", text)
        ports = "|".join(self.ports)
        text = re.sub(rf"(?<![\w.])({ports})(?![\w.])", lambda m: self.ports[m[1]], text)
        for container, path in self.paths.items():
            text = re.sub(rf"(?<![\w/.]){re.escape(container)}(?=/|$)", str(path), text)
        return text


# --- the services as processes -------------------------------------------------------------------


def stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM each process, its group and every descendant (Jupyter kernels run in sessions of
    their own), all at once; SIGKILL what is left after 15 s."""
    family = []
    for process in processes:
        with suppress(psutil.NoSuchProcess):
            leader = psutil.Process(process.pid)
            family += [leader, *leader.children(recursive=True)]
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    for member in family:
        with suppress(psutil.NoSuchProcess):
            member.terminate()
    _, alive = psutil.wait_procs(family, timeout=15)
    for member in alive:
        with suppress(psutil.NoSuchProcess):
            member.kill()
    for process in processes:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


class Stack:
    """compose.yml's services started natively, each from its own command and environment."""

    def __init__(self, folder: Path, local: Local):
        self.folder, self.local = folder, local
        self.variables = dot_env()
        self.processes: dict[str, subprocess.Popen] = {}
        self.empty_database: dict[str, httpx.Response] = {}
        self.api_health_before_any_run: subprocess.CompletedProcess | None = None
        self.run: subprocess.CompletedProcess | None = None

    def command(self, name: str) -> list[str]:
        command = SERVICES[name]["command"]
        command = shlex.split(command) if isinstance(command, str) else command
        command = [self.local(interpolate(str(arg), self.variables)) for arg in command]
        if name == "lab" and os.geteuid() == 0:  # the image runs as uid 1000, never as root
            command.append("--ServerApp.allow_root=True")
        return command

    def environment(self, name: str) -> dict[str, str]:
        """This machine's environment without stockcast's or MLflow's settings, then the
        service's, as compose gives it (interpolated from .env), made local."""
        ours = ("STOCKCAST_", "MLFLOW_", "JUPYTER_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
        for key, value in (SERVICES[name].get("environment") or {}).items():
            env[key] = self.local(interpolate(str(value), self.variables))
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        return env

    def log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def tail(self, name: str) -> str:
        return "\n".join(self.log(name).read_text(errors="replace").splitlines()[-40:])

    def start(
        self, name: str, command: list[str] | None = None, service: str = ""
    ) -> subprocess.Popen:
        """The service's command (or `command` in `service`'s environment), logged to a file."""
        with self.log(name).open("w") as log:
            self.processes[name] = subprocess.Popen(
                command or self.command(name),
                cwd=REPO,  # the image's WORKDIR
                env=self.environment(service or name),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.processes[name]

    def url(self, name: str, path: str = "") -> str:
        (published,) = SERVICES[name]["ports"]
        return f"http://127.0.0.1:{self.local.ports[published.rsplit(':', 1)[1]]}{path}"

    def wait(self, name: str, ready, seconds: float) -> None:
        """Until `ready()` is true; fails with the service's log if it exits or takes longer."""
        deadline = time.monotonic() + seconds
        while not ready():
            process = self.processes[name]
            assert process.poll() is None, f"{name} exited {process.returncode}:\n{self.tail(name)}"
            assert time.monotonic() < deadline, f"{name} not up in {seconds} s:\n{self.tail(name)}"
            time.sleep(1)

    def answers(self, url: str, status: int | None = None) -> bool:
        try:
            response = httpx.get(url, timeout=10)
        except httpx.HTTPError:
            return False
        return status is None or response.status_code == status

    def healthcheck(self, name: str) -> subprocess.CompletedProcess:
        """The service's compose healthcheck, run natively with the service's environment."""
        test = SERVICES[name]["healthcheck"]["test"]
        assert test[0] == "CMD", test
        command = [self.local(interpolate(str(arg), self.variables)) for arg in test[1:]]
        return subprocess.run(
            command,
            cwd=REPO,
            env=self.environment(name),
            capture_output=True,
            text=True,
            timeout=60,
        )

    def daily(self) -> subprocess.CompletedProcess:
        """The crontab's daily job in the runner's environment, with the suite's small settings
        and one ticker of the bundled sample."""
        jobs = [line.split(None, 5)[5] for line in cron_lines() if " runner daily" in line]
        (job,) = jobs
        flags = ["--config", str(TEST_CONFIG), "--source", "sample", "--tickers", TICKER]
        flags += ["--executor", "dask"]  # on the profile's cluster (STOCKCAST_DASK_SCHEDULER)
        process = self.start("daily", [*shlex.split(job), *flags], service="runner")
        try:
            process.wait(timeout=900)
        finally:
            stop([process])
        return subprocess.CompletedProcess(process.args, process.returncode, self.tail("daily"))

    def stop_all(self) -> None:
        stop(list(self.processes.values()))


def cron_lines() -> list[str]:
    """The job lines of runner/crontab."""
    lines = (REPO / "runner" / "crontab").read_text().splitlines()
    return [line for line in lines if line.strip() and not re.match(r"\s*(#|\w+=)", line)]


# --- the stack, up once for the module -----------------------------------------------------------


def admin_engine() -> sa.Engine:
    """An engine on the PostgreSQL server; skip (or fail, when it was asked for) if unreachable."""
    engine = sa.create_engine(
        PG_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 10}
    )
    try:
        with engine.connect():
            return engine
    except sa.exc.OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0]
    message = f"PostgreSQL at {mask_url(PG_URL)} is unreachable ({reason})"
    if os.environ.get("STOCKCAST_TEST_PG_URL"):
        pytest.fail(f"{message}: STOCKCAST_TEST_PG_URL asks for it")
    pytest.skip(f"{message}: set STOCKCAST_TEST_PG_URL to a server to run the stack test")


def compose_databases() -> list[str]:
    """The databases of the postgres service: POSTGRES_DB and those its init script creates."""
    init = (REPO / "docker" / "postgres-init.sql").read_text()
    created = re.findall(r"^CREATE DATABASE (\w+)", init, re.MULTILINE | re.IGNORECASE)
    return [SERVICES["postgres"]["environment"]["POSTGRES_DB"], *created]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    admin = admin_engine()
    suffix = uuid.uuid4().hex[:10]
    databases = {name: f"{name}_stack_{suffix}" for name in compose_databases()}
    created = []
    folder = tmp_path_factory.mktemp("stack")
    stack = Stack(folder, Local(folder, sa.engine.make_url(PG_URL), databases))
    try:
        with admin.connect() as conn:
            for database in databases.values():
                conn.execute(sa.text(f"CREATE DATABASE {database}"))
                created.append(database)
        for name in SERVERS:
            stack.start(name)
        # The API first, on the empty database: what a user who opens it right away sees.
        stack.wait("api", lambda: stack.answers(stack.url("api", "/openapi.json"), 200), 300)
        paths = httpx.get(stack.url("api", "/openapi.json"), timeout=30).json()["paths"]
        for path, methods in paths.items():
            if "get" in methods:
                route = re.sub(r"\{[^}]+\}", TICKER, path)
                stack.empty_database[route] = httpx.get(stack.url("api", route), timeout=30)
        stack.api_health_before_any_run = stack.healthcheck("api")
        stack.wait(
            "mlflow", lambda: stack.answers(stack.url("mlflow", "/health"), 200), MLFLOW_START
        )
        stack.wait("dask-worker", lambda: stack.healthcheck("dask-worker").returncode == 0, 300)
        stack.run = stack.daily()
        assert stack.run.returncode == 0, f"the daily run failed:\n{stack.run.stdout}"
        stack.wait("dashboard", lambda: stack.answers(stack.url("dashboard")), 300)
        stack.wait("lab", lambda: stack.answers(stack.url("lab", "/api"), 200), 300)
        yield stack
    finally:
        stack.stop_all()
        with admin.connect() as conn:
            for database in created:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        admin.dispose()


# --- what the user sees ------------------------------------------------------------------------


def app_database(stack: Stack) -> sa.Engine:
    from stockcast import store

    return store.connect_read_only(stack.environment("api")["STOCKCAST_DB_URL"])


def test_the_api_answers_every_endpoint_on_the_empty_database_without_a_5xx(stack):
    """Before any run (the tables do not exist yet): every GET route of the API's OpenAPI, a
    ticker where it takes one; /health says 200, so compose's healthcheck passes."""
    assert "/health" in stack.empty_database
    errors = {
        route: f"{answer.status_code} {answer.text[:200]}"
        for route, answer in stack.empty_database.items()
        if answer.status_code >= 500
    }
    assert not errors
    assert stack.empty_database["/health"].status_code == 200
    check = stack.api_health_before_any_run
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_daily_run_computed_on_the_dask_profiles_cluster(stack):
    scheduler = stack.local(stack.variables["STOCKCAST_DASK_SCHEDULER"])
    assert f"per-ticker work dask on {scheduler};" in stack.log("daily").read_text()
    from distributed import Client

    with Client(scheduler, timeout="30s") as client:
        assert len(client.scheduler_info()["workers"]) == 1  # the worker service, joined


def test_the_daily_run_stored_its_artifacts_through_the_tracking_server(stack):
    """The run's client wrote no artifact itself: the server's proxy stored them."""
    assert not (stack.local.paths["/data/outputs"] / "mlartifacts").exists()
    assert list(stack.local.paths["/data/mlartifacts"].rglob("MLmodel"))


def test_the_api_serves_the_runs_prediction(stack):
    from stockcast import store

    engine = app_database(stack)
    (run,) = store.recent_runs(engine).itertuples()
    assert (run.kind, run.status) == ("daily", "ok")
    stored = store.latest_predictions(engine, TICKER)
    champion = stored[stored["is_champion"].astype(bool)].iloc[0]
    answer = httpx.get(stack.url("api", f"/predictions/{TICKER}/latest"), timeout=30)
    assert answer.status_code == 200, answer.text
    latest = answer.json()
    assert latest["as_of_date"] == run.as_of_date.isoformat()
    assert latest["champion"]["model"] == champion["model"]
    assert latest["champion"]["pred_close"] == pytest.approx(champion["pred_close"])
    assert latest["champion"]["model_version"] == champion["model_version"]


def test_mlflow_holds_the_champion_and_serves_it_through_its_artifact_proxy(stack, tmp_path):
    import mlflow.artifacts
    import mlflow.pyfunc
    import pandas as pd
    from mlflow import MlflowClient

    from stockcast import store

    server = stack.url("mlflow")
    client = MlflowClient(tracking_uri=server, registry_uri=server)
    version = client.get_model_version_by_alias(MODEL, "champion")
    (run,) = store.recent_runs(app_database(stack)).itertuples()
    assert version.tags["stockcast.as_of"] == run.as_of_date.isoformat()
    location = client.get_model_version_download_uri(MODEL, version.version)
    assert location.startswith("mlflow-artifacts:"), location
    # Through the server's proxy: an mlflow-artifacts: URI resolves against the tracking URI.
    downloaded = mlflow.artifacts.download_artifacts(
        location, dst_path=str(tmp_path), tracking_uri=server
    )
    model = mlflow.pyfunc.load_model(downloaded)
    columns = model.unwrap_python_model().forecaster.input_columns_
    forecast = model.predict(pd.DataFrame([[0.0] * len(columns)], columns=columns))
    assert list(forecast.columns) == ["pred_return", "lower_return", "upper_return"]


def test_the_dashboard_renders_its_page(stack):
    token = stack.variables["STOCKCAST_DASHBOARD_TOKEN"]
    page = httpx.get(stack.url("dashboard", f"/?token={token}"), timeout=300)
    assert page.status_code == 200, page.text[:500]
    assert "voila" in page.text.lower()
    assert "stockcast" in page.text


@pytest.fixture
def cron(tmp_path):
    """A stand-in named like the runner's cron process (a copy of sleep): supercronic itself is
    not installed here, so the runner service's command is the one not run natively."""
    fake = tmp_path / "supercronic"
    fake.write_bytes(Path("/bin/sleep").read_bytes())
    fake.chmod(0o755)
    process = subprocess.Popen([str(fake), "600"])
    yield process
    process.kill()
    process.wait()


@pytest.mark.parametrize("name", [name for name in SERVICES if name != "postgres"])
def test_every_healthcheck_of_compose_passes_once_the_stack_is_up(stack, name, request):
    """postgres aside (the machine's server stands in for the image's)."""
    if name == "runner":
        request.getfixturevalue("cron")
    check = stack.healthcheck(name)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.startswith("healthy: ")
