"""Shared fixtures: database URLs on SQLite and (when configured) PostgreSQL, the sample prices.

`STOCKCAST_TEST_PG_URL` points at a PostgreSQL server; each test session works in its own
schema there. When the variable is set and the server cannot be reached, tests fail, not skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get("STOCKCAST_TEST_PG_URL")


def _with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def pg_server_url():
    """The PostgreSQL URL of this test session's own schema (dropped at the end)."""
    if not PG_URL:
        pytest.skip("STOCKCAST_TEST_PG_URL is not set: PostgreSQL tests skipped")
    schema = f"stockcast_test_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:  # unreachable server: this raises and the tests fail
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    yield _with_search_path(PG_URL, schema)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


@contextmanager
def fresh_schema(prefix: str = "stockcast_t"):
    """The URL of a new, empty schema on STOCKCAST_TEST_PG_URL's server, dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield _with_search_path(PG_URL, schema)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@pytest.fixture
def pg_url(pg_server_url):
    """A fresh, empty schema for one test."""
    with fresh_schema() as url:
        yield url


@pytest.fixture(scope="module")
def module_pg_url(pg_server_url):
    """A fresh, empty schema for one module's fixtures."""
    with fresh_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """An empty database on each supported back end."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'stockcast.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="module", autouse=True)
def mlflow_uris_left_as_found():
    """`mlflow.set_tracking_uri` also sets MLFLOW_TRACKING_URI in os.environ: a module that points
    MLflow at its own store must not point every later module, and their subprocesses, there."""
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    found = {name: os.environ.get(name) for name in names}
    yield
    for name, value in found.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def sample_prices():
    from stockcast import sources

    return sources.fetch_prices("sample", None).prices


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    """An empty STOCKCAST_OUTPUTS folder with no database or MLflow overrides."""
    folder = tmp_path / "outputs"
    monkeypatch.setenv("STOCKCAST_OUTPUTS", str(folder))
    monkeypatch.delenv("STOCKCAST_DB_URL", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return folder


TEST_CONFIG = Path(__file__).parent / "pipeline.test.yaml"
REPO = Path(__file__).resolve().parent.parent


def run_cli(
    *args: str, env: dict | None = None, timeout: float = 900
) -> subprocess.CompletedProcess:
    """`python -m runner <args>` in a subprocess, as an operator would run it."""
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def pipeline_env(outputs: Path, db_url: str | None = None) -> dict:
    env = {
        k: v for k, v in os.environ.items() if k not in ("STOCKCAST_DB_URL", "MLFLOW_TRACKING_URI")
    }
    env["STOCKCAST_OUTPUTS"] = str(outputs)
    if db_url:
        env["STOCKCAST_DB_URL"] = db_url
    return env


@dataclass
class PipelineRun:
    """The suite's one small demo run: where it wrote, how it ended."""

    outputs: Path
    db_url: str
    env: dict
    result: subprocess.CompletedProcess

    @property
    def run_folder(self) -> Path:
        return next((self.outputs / "runs").glob("demo-*"))


class DemoRun:
    """`python -m runner demo` on small settings, started in the background: the suite's other
    tests run meanwhile, and `wait()` hands over the finished run to those that read it."""

    def __init__(self, outputs: Path, db_url: str | None):
        self.outputs, self.db_url = outputs, db_url
        self.env = pipeline_env(outputs, db_url)
        self.log = outputs.parent / "demo"
        with open(f"{self.log}.out", "w") as out, open(f"{self.log}.err", "w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "runner", "--config", str(TEST_CONFIG), "demo"],
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=err,
                text=True,
            )

    def wait(self, timeout: float = 1800) -> PipelineRun:
        self.process.wait(timeout=timeout)
        result = subprocess.CompletedProcess(
            self.process.args,
            self.process.returncode,
            Path(f"{self.log}.out").read_text(),
            Path(f"{self.log}.err").read_text(),
        )
        assert result.returncode == 0, result.stdout + result.stderr
        db_url = self.db_url or f"sqlite:///{self.outputs / 'stockcast.db'}"
        return PipelineRun(self.outputs, db_url, self.env, result)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


DEMO_FIXTURES = {"pipeline": "sqlite", "pg_pipeline": "postgresql"}


def _demos_read(item) -> set[str]:
    """The demo fixtures a test reads: those it names, or that a parameter of it names (a
    fixture parametrized over both databases gets them by name, as test_pipeline's `run`)."""
    callspec = getattr(item, "callspec", None)
    params = {v for v in callspec.params.values() if isinstance(v, str)} if callspec else set()
    return DEMO_FIXTURES.keys() & (set(item.fixturenames) | params)


_demos: dict[str, DemoRun] = {}


def _start_demo(backend: str, tmp_path_factory, request) -> DemoRun:
    if backend not in _demos:
        outputs = tmp_path_factory.mktemp(f"{backend}_demo") / "outputs"
        url = request.getfixturevalue("pg_server_url") if backend == "postgresql" else None
        _demos[backend] = DemoRun(outputs, url)
    return _demos[backend]


@pytest.fixture(scope="session", autouse=True)
def demo_runs_in_the_background(request, tmp_path_factory):
    """Start the demo run of each database some selected test reads, before the first test:
    the two runs and the tests that need neither share the machine's cores."""
    wanted = {name for item in request.session.items for name in _demos_read(item)}
    for name, backend in DEMO_FIXTURES.items():
        if name in wanted and (backend == "sqlite" or PG_URL):
            try:
                _start_demo(backend, tmp_path_factory, request)
            except Exception:  # noqa: BLE001 - an unreachable server fails its own tests later
                pass
    yield
    for demo in _demos.values():
        demo.stop()


@pytest.fixture(scope="session")
def pipeline(request, tmp_path_factory) -> PipelineRun:
    """One small demo run on SQLite, shared by every test that reads a filled database."""
    return _start_demo("sqlite", tmp_path_factory, request).wait()


@pytest.fixture(scope="session")
def pg_pipeline(request, tmp_path_factory, pg_server_url) -> PipelineRun:
    """The same small demo run with PostgreSQL as the database."""
    return _start_demo("postgresql", tmp_path_factory, request).wait()


# Modules whose tests read a demo run go last, so that the runs have finished by then; whole
# modules move, to keep each module's own fixtures set up once.
def _module_rank(items: list) -> int:
    if any(_demos_read(item) for item in items):
        return 2
    if any(item.get_closest_marker(m) for item in items for m in ("pipeline", "stack")):
        return 1
    return 0


def pytest_collection_modifyitems(session, config, items):
    modules: dict[str, list] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    ordered = sorted(modules.values(), key=_module_rank)  # stable: file order within a rank
    items[:] = [item for module in ordered for item in module]


@pytest.fixture(scope="module")
def walk_features():
    """500 sessions of one synthetic ticker's features, shared by the train and forecaster tests."""
    from synthetic import make_prices

    from stockcast.features import make_features

    return make_features(make_prices(500, "AAA", seed=11))
