"""The read-only API over a database filled by the shared small pipeline run."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from runner.api import create_app
from stockcast import store

pytestmark = pytest.mark.pipeline


@pytest.fixture(scope="module")
def client(pipeline):
    return TestClient(create_app(pipeline.db_url))


def test_health_names_the_last_successful_run(client):
    body = client.get("/health").json()
    assert body["database"] == "ok"
    assert body["last_successful_run"]["as_of_date"] == "2013-03-01"


def test_tickers_with_their_span(client):
    body = {t["ticker"]: t for t in client.get("/tickers").json()}
    assert sorted(body) == ["AAPL", "GOOG", "IBM", "MSFT"]
    assert body["GOOG"]["first_date"] == "2004-08-19" and body["GOOG"]["rows"] == 2148


def test_latest_prediction_is_for_the_next_session(client, pipeline):
    body = client.get("/predictions/AAPL/latest").json()
    assert body["target_date"] == "2013-03-04" and body["as_of_date"] == "2013-03-01"
    stored = store.latest_predictions(store.connect(pipeline.db_url), "AAPL")
    champion = stored[stored["is_champion"]].iloc[0]
    assert body["champion"]["model"] == champion["model"]
    assert body["champion"]["pred_close"] == pytest.approx(champion["pred_close"])
    assert body["champion"]["model_version"] == champion["model_version"]
    assert body["naive"]["pred_close"] == pytest.approx(body["as_of_close"])


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
    assert {row["model"] for row in window["items"]} == {"naive", "ridge", "xgboost"}


def test_runs_list_failures(client):
    runs = client.get("/runs", params={"limit": 5}).json()
    assert runs[0]["kind"] in {"demo", "weekly"} and runs[0]["failures"] == []


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


def test_the_api_cannot_write(pipeline):
    engine = store.connect_read_only(pipeline.db_url)
    with engine.connect() as conn, pytest.raises(Exception, match="readonly|read-only"):
        conn.exec_driver_sql("DELETE FROM stock_price")


def test_no_generated_request_makes_a_server_error(pipeline):
    """Schemathesis: requests generated from the OpenAPI document, bounded per operation."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(pipeline.db_url))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 6
    calls = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case):
            calls.append(case.call_and_validate(checks=[not_a_server_error]).status_code)

        check()
    assert len(calls) > 60 and 200 in calls and 422 in calls
