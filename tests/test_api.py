"""The read-only API: over the shared small pipeline run, over a small database written with
the store's functions (runs in every state), over empty databases and an unreachable one."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import schemathesis
import sqlalchemy as sa
from api_data import REPORT_ROOT, fill
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from runner.api import create_app
from stockcast import store

ENDPOINTS = [
    "/health",
    "/tickers",
    "/runs",
    "/predictions/AAPL/latest",
    "/predictions/AAPL",
    "/evaluations/AAPL",
]


@pytest.fixture(scope="module")
def client(pipeline):
    return TestClient(create_app(pipeline.db_url))


@pytest.fixture
def filled_url(db_url):
    """A small database written with the store's functions, on SQLite and PostgreSQL."""
    fill(db_url)
    return db_url


@pytest.fixture
def filled(filled_url):
    return TestClient(create_app(filled_url))


@pytest.mark.pipeline
def test_health_names_the_last_successful_run(client):
    body = client.get("/health").json()
    assert body["database"] == "ok"
    assert body["last_successful_run"]["as_of_date"] == "2013-03-01"


@pytest.mark.pipeline
def test_tickers_with_their_span(client):
    body = {t["ticker"]: t for t in client.get("/tickers").json()}
    assert sorted(body) == ["AAPL", "GOOG", "IBM", "MSFT"]
    assert body["GOOG"]["first_date"] == "2004-08-19" and body["GOOG"]["rows"] == 2148


@pytest.mark.pipeline
def test_latest_prediction_is_for_the_next_session(client, pipeline):
    body = client.get("/predictions/AAPL/latest").json()
    assert body["target_date"] == "2013-03-04" and body["as_of_date"] == "2013-03-01"
    stored = store.latest_predictions(store.connect(pipeline.db_url), "AAPL")
    champion = stored[stored["is_champion"]].iloc[0]
    assert body["champion"]["model"] == champion["model"]
    assert body["champion"]["pred_close"] == pytest.approx(champion["pred_close"])
    assert body["champion"]["model_version"] == champion["model_version"]
    assert body["naive"]["pred_close"] == pytest.approx(body["as_of_close"])


@pytest.mark.pipeline
def test_predictions_and_evaluations_page(client):
    first = client.get("/predictions/MSFT", params={"limit": 5}).json()
    second = client.get("/predictions/MSFT", params={"limit": 5, "offset": 5}).json()
    assert first["total"] == second["total"] >= 36 and len(first["items"]) == 5
    assert first["items"] != second["items"]
    window = client.get(
        "/evaluations/MSFT", params={"start": "2013-02-01", "end": "2013-02-28"}
    ).json()
    dates = {row["target_date"] for row in window["items"]}
    assert dates and min(dates) >= "2013-02-01" and max(dates) <= "2013-02-28"
    assert {row["model"] for row in window["items"]} == {
        "ar",
        "blend",
        "naive",
        "pooled",
        "ridge",
        "xgboost",
    }


@pytest.mark.pipeline
def test_runs_list_failures(client):
    runs = client.get("/runs", params={"limit": 5}).json()
    assert runs[0]["kind"] in {"demo", "weekly"} and runs[0]["failures"] == []


@pytest.mark.pipeline
@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/predictions/AAPL'%3B%20DROP%20TABLE%20x/latest", 422, "is not a valid symbol"),
        ("/predictions/NOPE/latest", 404, "unknown ticker 'NOPE'"),
        ("/evaluations/AAPL?start=2013-13-45", 422, "date"),
        ("/predictions/AAPL?limit=5000", 422, "less than or equal to 1000"),
    ],
)
def test_bad_requests_say_why(client, path, status, says):
    response = client.get(path)
    assert response.status_code == status
    assert says in response.text


@pytest.mark.pipeline
def test_the_api_cannot_write(pipeline):
    engine = store.connect_read_only(pipeline.db_url)
    with engine.connect() as conn, pytest.raises(Exception, match="readonly|read-only"):
        conn.exec_driver_sql("DELETE FROM stock_price")


def _fuzz(app, examples: int = 30) -> list[int]:
    """Schemathesis: requests generated from the OpenAPI document, bounded per operation; each
    answer must not be a 5xx and must match its declared response model."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(ENDPOINTS)
    calls = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case):
            checks = [not_a_server_error, response_schema_conformance]
            calls.append(case.call_and_validate(checks=checks).status_code)

        check()
    return calls


@pytest.mark.pipeline
def test_no_generated_request_makes_a_server_error(pipeline):
    calls = _fuzz(create_app(pipeline.db_url))
    assert len(calls) > 60 and 200 in calls and 422 in calls


# --- concurrency ------------------------------------------------------------------------------


READERS = """
import sys, threading
from stockcast import store

engine, errors = store.connect_read_only(sys.argv[1]), []

def read():
    try:
        for _ in range(30):
            store.price_summary(engine)
            store.recent_runs(engine, 5)
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")

readers = [threading.Thread(target=read) for _ in range(10)]
for reader in readers:
    reader.start()
for reader in readers:
    reader.join()
sys.exit(errors[0] if errors else 0)
"""


def test_concurrent_readers_do_not_close_each_others_connections(tmp_path):
    """SingletonThreadPool closed connections that other threads still used: 'Cannot operate
    on a closed database', then a segfault in libsqlite3 (so the readers run in a child)."""
    url = f"sqlite:///{tmp_path / 'stockcast.db'}"
    fill(url)
    result = subprocess.run(
        [sys.executable, "-c", READERS, url], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-1000:]}"


# --- runs in any state --------------------------------------------------------------------------


def test_runs_in_every_state_with_folder_names_not_server_paths(filled):
    response = filled.get("/runs")
    assert response.status_code == 200, response.text
    runs = {run["run_id"]: run for run in response.json()}
    assert {run["status"] for run in runs.values()} == {"running", "abandoned", "failed", "ok"}
    running = runs["weekly-20240104T000000Z-dddd"]
    assert running["status"] == "running" and running["finished_at"] is None
    assert running["as_of_date"] is None
    assert runs["daily-20240102T000000Z-bbbb"]["failures"] == [
        {"stage": "train", "ticker": "MSFT", "error": "too few rows"}
    ]
    assert all(run["folder"] == run_id for run_id, run in runs.items())
    assert REPORT_ROOT not in response.text and "report_dir" not in response.text


def test_health_names_the_newest_run_even_unfinished(filled):
    body = filled.get("/health").json()
    assert body["database"] == "ok" and body["note"] is None
    assert body["last_run"]["run_id"] == "weekly-20240104T000000Z-dddd"
    assert body["last_run"]["finished_at"] is None
    assert body["last_successful_run"]["run_id"] == "demo-20240101T000000Z-aaaa"


@pytest.mark.parametrize(
    ("path", "row"), [("/predictions", "Prediction"), ("/evaluations", "Evaluation")]
)
def test_both_lists_answer_one_page_shape_named_after_their_rows(filled, path, row):
    """One generic page model; the OpenAPI document still names each page after its rows."""
    body = filled.get(f"{path}/AAPL?limit=2&offset=1").json()
    assert list(body) == ["ticker", "total", "limit", "offset", "items"]
    assert (body["ticker"], body["limit"], body["offset"], len(body["items"])) == ("AAPL", 2, 1, 2)
    assert body["total"] > 2
    schemas = filled.get("/openapi.json").json()["components"]["schemas"]
    page = schemas[f"{row}Page"]
    assert page["required"] == list(body)
    assert page["properties"]["items"]["items"] == {"$ref": f"#/components/schemas/{row}"}
    assert not [name for name in schemas if name.startswith("Page")]


def test_filled_database_generated_requests(filled_url):
    calls = _fuzz(create_app(filled_url), examples=15)
    assert 200 in calls and 422 in calls


# --- empty and unmigrated databases ------------------------------------------------------------


def _tables(url: str) -> list[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        return sa.inspect(conn).get_table_names()


@pytest.fixture(params=["sqlite-missing", "sqlite-zero-bytes", "postgresql-no-tables"])
def empty_url(request, tmp_path):
    """A database no run has touched: a missing or zero-byte SQLite file, a PostgreSQL schema
    with no tables."""
    if request.param == "postgresql-no-tables":
        return request.getfixturevalue("pg_url")
    path = tmp_path / "stockcast.db"
    if request.param == "sqlite-zero-bytes":
        path.touch()
    return f"sqlite:///{path}"


def _file_missing(url: str) -> bool:
    return url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists()


def _unchanged(url: str, tmp_path) -> bool:
    """The API created and migrated nothing."""
    if url.startswith("sqlite:///"):
        files = {p.name: p.stat().st_size for p in tmp_path.iterdir()}
        return files in ({}, {"stockcast.db": 0})
    return _tables(url) == []


def test_empty_database_answers_without_a_server_error(empty_url, tmp_path):
    client = TestClient(create_app(empty_url))
    statuses = {path: client.get(path).status_code for path in ENDPOINTS}
    assert statuses == {
        "/health": 200,
        "/tickers": 200,
        "/runs": 200,
        "/predictions/AAPL/latest": 404,
        "/predictions/AAPL": 404,
        "/evaluations/AAPL": 404,
    }
    health = client.get("/health").json()
    assert health["database"] == ("missing" if _file_missing(empty_url) else "ok")
    assert health["last_run"] is None and health["last_successful_run"] is None
    assert "no data yet: run the pipeline" in health["note"]
    assert client.get("/tickers").json() == [] and client.get("/runs").json() == []
    assert "no data yet" in client.get("/predictions/AAPL/latest").json()["detail"]
    assert _unchanged(empty_url, tmp_path)


def test_empty_database_generated_requests(empty_url, tmp_path):
    calls = _fuzz(create_app(empty_url), examples=10)
    assert 5 not in {status // 100 for status in calls}
    assert _unchanged(empty_url, tmp_path)


def test_api_started_before_the_first_run_serves_it_afterwards(db_url):
    client = TestClient(create_app(db_url))
    assert client.get("/predictions/AAPL/latest").status_code == 404
    fill(db_url)
    assert client.get("/predictions/AAPL/latest").status_code == 200
    assert client.get("/health").json()["last_successful_run"] is not None


# --- an unreachable database ---------------------------------------------------------------------


def _assert_generic_503(response) -> None:
    detail = response.json()["detail"]
    assert detail.startswith("database unavailable:") and "\n" not in detail


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://secretuser:hunter2@127.0.0.1:{port}/secretdb",
        "postgresql+psycopg://127.0.0.1:{port}/secretdb?user=secretuser&password=hunter2",
    ],
    ids=["password-in-userinfo", "password-in-query"],
)
def test_unreachable_database_is_a_generic_503(url, caplog):
    """The client learns nothing about the server, user, database or password; the log does."""
    port = _closed_port()
    client = TestClient(create_app(url.format(port=port)))
    with caplog.at_level(logging.WARNING, logger="runner.api"):
        for path in ENDPOINTS:
            response = client.get(path)
            assert response.status_code == 503, (path, response.text)
            _assert_generic_503(response)
            for secret in ("hunter2", "secretuser", "secretdb", "127.0.0.1", str(port)):
                assert secret not in response.text
    assert "is unreachable" in caplog.text and str(port) in caplog.text


def test_a_database_gone_after_start_is_a_503_not_a_500(tmp_path):
    url = f"sqlite:///{tmp_path / 'stockcast.db'}"
    fill(url)
    client = TestClient(create_app(url))
    assert client.get("/tickers").status_code == 200
    (tmp_path / "stockcast.db").unlink()
    response = client.get("/tickers")
    assert response.status_code == 503
    _assert_generic_503(response)


# --- bad input ----------------------------------------------------------------------------------


LONG = 60_000  # httpx refuses URLs over 64 KiB


@pytest.mark.parametrize(
    "path",
    [
        "/predictions/AAPL?start=" + "9" * LONG,
        "/evaluations/AAPL?limit=" + "x" * LONG,
        "/predictions/" + "A" * LONG + "/latest",
        "/runs?limit=" + "1" * LONG,
    ],
    ids=["date", "limit", "ticker", "runs-limit"],
)
def test_a_422_echoes_only_an_excerpt_of_the_input(path, tmp_path):
    client = TestClient(create_app(f"sqlite:///{tmp_path / 'stockcast.db'}"))
    response = client.get(path)
    assert response.status_code == 422
    assert len(response.content) < 1_000, response.text[:300]
    assert f"({LONG} characters)" in response.text  # says how long the input was
