"""`python -m runner api`: a read-only FastAPI application over the predictions database.

Connections are opened read-only (SQLite in `mode=ro`, PostgreSQL in read-only transactions).
Tickers go through the project's ticker pattern: a malformed one is 422, an unknown one 404.
Before the first run has created the tables, lists are empty and tickers unknown (never a 5xx);
a database that cannot answer is a 503 whose one line names no server, user or password.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import PurePath
from typing import Annotated

import pandas as pd
from fastapi import FastAPI, HTTPException, Path, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from runner.api_models import (
    EvaluationPage,
    Health,
    Latest,
    Message,
    PredictionPage,
    RunWithFailures,
    TickerSpan,
)
from stockcast import store
from stockcast.config import check_ticker, load_settings
from stockcast.errors import DatabaseUnavailable, InvalidTicker

log = logging.getLogger(__name__)

MAX_LIMIT = 1000
EXCERPT = 40  # characters of a rejected input echoed back in a 422
NO_DATA = "no data yet: run the pipeline (`python -m runner demo` or `python -m runner daily`)"
UNAVAILABLE = "database unavailable: the API cannot read its database now; try again later"
TickerPath = Annotated[
    str, Path(max_length=32, description="a symbol such as AAPL, BRK-B, ^GSPC, 0700.HK")
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="rows per page (at most 1000)")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="rows to skip")]


TICKER_ERRORS = {  # what a route taking a ticker and dates may answer besides 200
    404: {"description": "unknown ticker"},
    422: {"description": "malformed ticker or date"},
}


def _records(frame) -> list[dict]:
    """Frame rows as JSON-ready dicts: dates as dates, NaN and NaT as None."""
    records = []
    for row in frame.to_dict("records"):
        clean = {}
        for key, value in row.items():
            if value is None or pd.isna(value):
                value = None
            elif hasattr(value, "date") and key.endswith("_date"):
                value = value.date()
            clean[key] = value
        records.append(clean)
    return records


def _excerpt(value):
    """A rejected input as echoed back: its first EXCERPT characters, never the whole of it."""
    if value is None:
        return None
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= EXCERPT else f"{text[:EXCERPT]}... ({len(text)} characters)"


def _short_errors(errors) -> list[dict]:
    """Validation errors with where, what and an excerpt of the input, nothing more."""
    return [
        {
            "type": error["type"],
            "loc": list(error["loc"]),
            "msg": error["msg"],
            "input": _excerpt(error.get("input")),
        }
        for error in errors
    ]


def _check_ticker(ticker: str) -> str:
    try:
        return check_ticker(ticker)
    except InvalidTicker as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None


def create_app(db_url: str | None = None) -> FastAPI:
    """The application over `db_url` (default: the configured database)."""
    url = db_url or load_settings().db_url
    app = FastAPI(
        title="stockcast",
        version="1.0",
        description="Read-only access to next-session closing-price predictions, "
        "their evaluation against naive, and the pipeline runs.",
        responses={503: {"model": Message, "description": "the database cannot answer now"}},
    )
    state = {}

    def engine():
        """The read-only engine once a run has created the tables, else None (nothing yet).

        A missing SQLite file is not an error: no run has created it yet.
        """
        if state.get("ready"):
            return state["engine"]
        if store.sqlite_file_missing(url):
            return None
        if "engine" not in state:  # concurrent first requests: one engine is kept
            candidate = store.connect_read_only(url)
            if state.setdefault("engine", candidate) is not candidate:
                candidate.dispose()
        state["ready"] = store.schema_ready(state["engine"])
        return state["engine"] if state["ready"] else None

    @app.exception_handler(DatabaseUnavailable)
    def unavailable(request, exc: DatabaseUnavailable):
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(status_code=503, content={"detail": UNAVAILABLE})

    @app.exception_handler(RequestValidationError)
    def invalid(request, exc: RequestValidationError):
        return JSONResponse(status_code=422, content={"detail": _short_errors(exc.errors())})

    def known(ticker: str):
        """(engine, ticker) for a stored ticker; 404 for one never stored, 422 if malformed."""
        ticker, reader = _check_ticker(ticker), engine()
        if reader is None:
            raise HTTPException(status_code=404, detail=f"unknown ticker {ticker!r}: {NO_DATA}")
        if not store.has_ticker(reader, ticker):
            raise HTTPException(
                status_code=404,
                detail=f"unknown ticker {ticker!r}: see /tickers for the stored ones",
            )
        return reader, ticker

    def page(load, count, ticker: str, start, end, limit: int, offset: int) -> dict:
        """One page of a ticker's rows in [start, end] and how many there are in all."""
        reader, ticker = known(ticker)
        rows = load(reader, [ticker], start, end, limit, offset)
        total = count(reader, ticker, start, end)
        return {
            "ticker": ticker,
            "total": total,
            "limit": limit,
            "offset": offset,
            "items": _records(rows),
        }

    @app.get("/health", response_model=Health)
    def health():
        """Whether the database answers, its newest run (none: no run has happened yet) and
        the last run that finished with every ticker ok."""
        reader = engine()
        if reader is None:
            missing = store.sqlite_file_missing(url)
            return {
                "database": "missing" if missing else "ok",
                "last_run": None,
                "last_successful_run": None,
                "note": NO_DATA,
            }
        last = next(iter(_records(store.recent_runs(reader, 1))), None)
        return {
            "database": "ok",
            "last_run": last,
            "last_successful_run": store.last_successful_run(reader),
            "note": None if last else NO_DATA,
        }

    @app.get("/tickers", response_model=list[TickerSpan])
    def tickers():
        """Every stored ticker with its first and last stored session (none before a run)."""
        reader = engine()
        return [] if reader is None else _records(store.price_summary(reader))

    @app.get(
        "/predictions/{ticker}/latest",
        response_model=Latest,
        responses={
            404: {"description": "unknown ticker or no prediction yet"},
            422: {"description": "malformed ticker"},
        },
    )
    def latest(ticker: TickerPath):
        """The champion's latest prediction and the naive one for the same target session."""
        reader, ticker = known(ticker)
        rows = _records(store.latest_predictions(reader, ticker))
        champion = next((r for r in rows if r["is_champion"]), None)
        if champion is None:
            raise HTTPException(
                status_code=404,
                detail=f"no prediction for {ticker} yet: run `python -m runner daily`",
            )
        naive = next((r for r in rows if r["model"] == "naive"), None)
        return {
            "ticker": ticker,
            "as_of_date": champion["as_of_date"],
            "as_of_close": champion["as_of_close"],
            "target_date": champion["target_date"],
            "champion": champion,
            "naive": naive,
        }

    @app.get(
        "/predictions/{ticker}",
        response_model=PredictionPage,
        responses=TICKER_ERRORS,
    )
    def predictions(
        ticker: TickerPath,
        start: date | None = None,
        end: date | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ):
        """Predictions whose target session lies in [start, end], a page at a time."""
        return page(
            store.load_predictions, store.count_predictions, ticker, start, end, limit, offset
        )

    @app.get(
        "/evaluations/{ticker}",
        response_model=EvaluationPage,
        responses=TICKER_ERRORS,
    )
    def evaluations(
        ticker: TickerPath,
        start: date | None = None,
        end: date | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ):
        """Scored predictions whose target session lies in [start, end], a page at a time."""
        return page(
            store.load_evaluations, store.count_evaluations, ticker, start, end, limit, offset
        )

    @app.get("/runs", response_model=list[RunWithFailures])
    def runs(limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20):
        """The newest runs first, in any state (running, ok, failed, abandoned), each with its
        folder's name and its per-ticker failures."""
        reader = engine()
        if reader is None:
            return []
        recent = _records(store.recent_runs(reader, limit))
        items = store.run_items(reader, [r["run_id"] for r in recent])
        failed = items[items["status"] == "failed"]
        for run in recent:
            rows = failed[failed["run_id"] == run["run_id"]]
            run["failures"] = _records(rows[["stage", "ticker", "error"]])
            run["folder"] = PurePath(run["report_dir"]).name if run["report_dir"] else None
        return recent

    return app


def serve(host: str, port: int) -> int:
    """Run the API with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(), host=host, port=port, log_level="info")
    return 0
