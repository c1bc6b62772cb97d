"""A bounded load test: the real server (`python -m runner api`) on 127.0.0.1 over a filled
database, 2,000 requests from 20 concurrent clients, on SQLite and on PostgreSQL.

It asserts zero errors, zero 5xx and a live server afterwards, never timings; the throughput and
latency percentiles it measures are printed (`pytest -s`) for the README.
"""

from __future__ import annotations

import itertools
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from api_data import TICKERS, fill
from conftest import REPO, pipeline_env

CLIENTS = 20
REQUESTS = 2000
PATHS = [
    "/health",
    "/tickers",
    "/runs",
    "/runs?limit=3",
    *(f"/predictions/{t}/latest" for t in TICKERS),
    *(f"/predictions/{t}?limit=50" for t in TICKERS),
    *(f"/evaluations/{t}?offset=5&limit=10" for t in TICKERS),
    "/predictions/NOPE/latest",  # 404
    "/evaluations/AAPL?start=2005-13-01",  # 422
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(base: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the API exited with {server.returncode} at start"
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the API did not answer {base}/health within {timeout} s")


@pytest.fixture
def serve(tmp_path):
    """Start `python -m runner api` over a database URL on a free port; yield its base URL."""
    started = []

    def start(db_url: str) -> tuple[str, subprocess.Popen]:
        port = _free_port()
        env = pipeline_env(tmp_path / "outputs", db_url)
        with open(tmp_path / "api.log", "wb") as log:  # the child keeps its own descriptor
            server = subprocess.Popen(
                [sys.executable, "-m", "runner", "api", "--host", "127.0.0.1", "--port", str(port)],
                cwd=REPO,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        started.append(server)
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(base, server)
        return base, server

    yield start
    for server in started:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _hammer(base: str) -> tuple[list[tuple[int, float]], list[str], float]:
    """REQUESTS requests over PATHS from CLIENTS threads: (status, seconds) each, errors, wall."""
    jobs = list(itertools.islice(itertools.cycle(PATHS), REQUESTS))
    per_client = [jobs[i::CLIENTS] for i in range(CLIENTS)]
    results, errors = [], []

    def client(paths: list[str]) -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            for path in paths:
                began = time.perf_counter()
                try:
                    status = http.get(path).status_code
                except httpx.HTTPError as exc:
                    errors.append(f"{path}: {type(exc).__name__}: {exc}")
                    continue
                results.append((status, time.perf_counter() - began))

    began = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, per_client))
    return results, errors, time.perf_counter() - began


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_api_holds_2000_requests_from_20_clients(backend, serve, request, tmp_path):
    if backend == "sqlite":
        db_url = f"sqlite:///{tmp_path / 'stockcast.db'}"
    else:
        db_url = request.getfixturevalue("pg_url")
    fill(db_url)
    base, server = serve(db_url)
    results, errors, wall = _hammer(base)
    log = (tmp_path / "api.log").read_text(errors="replace")[-2000:]
    assert server.poll() is None, f"the API died (exit {server.returncode}): {log}"
    assert errors == [], f"{len(errors)} failed requests, first: {errors[:3]}\n{log}"
    server_errors = [status for status, _ in results if status >= 500]
    assert server_errors == [], f"{len(server_errors)} answers 5xx\n{log}"
    assert {status for status, _ in results} == {200, 404, 422}
    assert httpx.get(f"{base}/health").json()["database"] == "ok"
    seconds = sorted(s for _, s in results)
    centiles = statistics.quantiles(seconds, n=100)
    print(
        f"\n[load {backend}] {len(results)} requests, {CLIENTS} clients, cpus={os.cpu_count()}: "
        f"{len(results) / wall:.1f} req/s, p50 {centiles[49] * 1000:.0f} ms, "
        f"p99 {centiles[98] * 1000:.0f} ms, max {seconds[-1] * 1000:.0f} ms"
    )
