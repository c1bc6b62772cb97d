"""`python -m runner api`: a read-only FastAPI application over the predictions database.

Connections are opened read-only (SQLite in `mode=ro`, PostgreSQL in read-only transactions).
Tickers go through the project's ticker pattern: a malformed one is 422, an unknown one 404.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Annotated

from fastapi import FastAPI, HTTPException, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from stockcast import store
from stockcast.config import check_ticker, load_settings
from stockcast.errors import DatabaseUnavailable, InvalidTicker

MAX_LIMIT = 1000
TickerPath = Annotated[str, Path(description="a symbol such as AAPL, BRK-B, ^GSPC, 0700.HK")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="rows per page (at most 1000)")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="rows to skip")]


class Run(BaseModel):
    run_id: str
    kind: str
    as_of_date: date | None
    status: str
    started_at: datetime
    finished_at: datetime | None


class Health(BaseModel):
    database: str
    last_successful_run: Run | None


class TickerSpan(BaseModel):
    ticker: str
    first_date: date
    last_date: date
    rows: int


class Forecast(BaseModel):
    model: str
    pred_close: float
    pred_lower: float | None
    pred_upper: float | None
    model_version: str | None


class Latest(BaseModel):
    ticker: str
    as_of_date: date
    as_of_close: float | None
    target_date: date
    champion: Forecast
    naive: Forecast | None


class Prediction(BaseModel):
    ticker: str
    as_of_date: date
    target_date: date
    model: str
    pred_close: float
    pred_lower: float | None
    pred_upper: float | None
    is_champion: bool
    model_version: str | None
    run_id: str


class Evaluation(BaseModel):
    ticker: str
    as_of_date: date
    target_date: date
    model: str
    is_champion: bool
    pred_close: float
    true_close: float
    abs_error: float
    pct_error: float
    inside_interval: bool | None
    run_id: str


class PredictionPage(BaseModel):
    ticker: str
    total: int
    limit: int
    offset: int
    items: list[Prediction]


class EvaluationPage(BaseModel):
    ticker: str
    total: int
    limit: int
    offset: int
    items: list[Evaluation]


class Failure(BaseModel):
    stage: str
    ticker: str
    error: str | None


class RunWithFailures(Run):
    report_dir: str | None
    failures: list[Failure]


def _records(frame) -> list[dict]:
    """Frame rows as JSON-ready dicts: dates as dates, NaN as None."""
    records = []
    for row in frame.to_dict("records"):
        clean = {}
        for key, value in row.items():
            if hasattr(value, "date") and key.endswith("_date"):
                value = value.date()
            elif isinstance(value, float) and math.isnan(value):
                value = None
            clean[key] = value
        records.append(clean)
    return records


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
    )
    engines = {}

    def engine():
        if "db" not in engines:
            engines["db"] = store.connect_read_only(url)
        return engines["db"]

    @app.exception_handler(DatabaseUnavailable)
    def unavailable(request, exc: DatabaseUnavailable):
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    def known(ticker: str) -> str:
        ticker = _check_ticker(ticker)
        if not store.has_ticker(engine(), ticker):
            raise HTTPException(
                status_code=404,
                detail=f"unknown ticker {ticker!r}: see /tickers for the stored ones",
            )
        return ticker

    def page(load, count, ticker: str, start, end, limit: int, offset: int) -> dict:
        """One page of a ticker's rows in [start, end] and how many there are in all."""
        ticker = known(ticker)
        rows = load(engine(), [ticker], start, end, limit, offset)
        total = count(engine(), ticker, start, end)
        return {
            "ticker": ticker,
            "total": total,
            "limit": limit,
            "offset": offset,
            "items": _records(rows),
        }

    @app.get(
        "/health", response_model=Health, responses={503: {"description": "database unreachable"}}
    )
    def health():
        """Whether the database answers, and the last run that finished with every ticker ok."""
        last = store.last_successful_run(engine())
        return {"database": "ok", "last_successful_run": last}

    @app.get("/tickers", response_model=list[TickerSpan])
    def tickers():
        """Every stored ticker with its first and last stored session."""
        return _records(store.price_summary(engine()))

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
        ticker = known(ticker)
        rows = _records(store.latest_predictions(engine(), ticker))
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
        responses={
            404: {"description": "unknown ticker"},
            422: {"description": "malformed ticker or date"},
        },
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
        responses={
            404: {"description": "unknown ticker"},
            422: {"description": "malformed ticker or date"},
        },
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
        """The newest runs first, each with its per-ticker failures."""
        recent = _records(store.recent_runs(engine(), limit))
        items = store.run_items(engine(), [r["run_id"] for r in recent])
        failed = items[items["status"] == "failed"]
        for run in recent:
            rows = failed[failed["run_id"] == run["run_id"]]
            run["failures"] = _records(rows[["stage", "ticker", "error"]])
        return recent

    return app


def serve(host: str, port: int) -> int:
    """Run the API with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(), host=host, port=port, log_level="info")
    return 0
