"""Shared fixtures: database URLs on SQLite and (when configured) PostgreSQL, the sample prices.

`STOCKCAST_TEST_PG_URL` points at a PostgreSQL server; each test session works in its own
schema there. When the variable is set and the server cannot be reached, tests fail, not skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
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


@pytest.fixture
def pg_url(pg_server_url):
    """A fresh, empty schema for one test."""
    schema = f"stockcast_t_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    yield _with_search_path(PG_URL, schema)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """An empty database on each supported back end."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'stockcast.db'}"
    return request.getfixturevalue("pg_url")


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


def _demo(outputs: Path, db_url: str | None) -> PipelineRun:
    env = pipeline_env(outputs, db_url)
    result = run_cli("--config", str(TEST_CONFIG), "demo", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return PipelineRun(outputs, db_url or f"sqlite:///{outputs / 'stockcast.db'}", env, result)


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory) -> PipelineRun:
    """One small demo run on SQLite, shared by every test that reads a filled database."""
    return _demo(tmp_path_factory.mktemp("pipeline") / "outputs", None)


@pytest.fixture(scope="session")
def pg_pipeline(tmp_path_factory, pg_server_url) -> PipelineRun:
    """The same small demo run with PostgreSQL as the database."""
    return _demo(tmp_path_factory.mktemp("pg_pipeline") / "outputs", pg_server_url)
