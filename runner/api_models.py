"""The API's response models: the JSON each route answers and, through FastAPI, the OpenAPI
schema that documents it (component names such as `Run`, `Latest`, `PredictionPage`)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel


def _utc(moment: datetime) -> datetime:
    """Run times are written in UTC; SQLite hands them back without their zone."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


class Run(BaseModel):
    run_id: str
    kind: str
    as_of_date: date | None
    status: str  # running, ok, partial, failed, abandoned (a killed run found later)
    started_at: UtcDatetime
    finished_at: UtcDatetime | None  # None while running, or after a run killed outright


class Message(BaseModel):
    detail: str


class Health(BaseModel):
    database: Literal["ok", "missing"]  # missing: a SQLite file no run has created yet
    last_run: Run | None  # the newest run in any state; None: no run has happened
    last_successful_run: Run | None
    note: str | None  # what to do when there is nothing to read yet


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


class Page[Item: BaseModel](BaseModel):
    """One page of a ticker's rows and how many there are in all (`total`, for paging on)."""

    ticker: str
    total: int
    limit: int
    offset: int
    items: list[Item]


# Named subclasses: the OpenAPI components read `PredictionPage`, not `Page_Prediction_`.
class PredictionPage(Page[Prediction]):
    """A page of `stock_pred` rows."""


class EvaluationPage(Page[Evaluation]):
    """A page of `stock_pred_eval` rows with their prediction's as-of date and champion flag."""


class Failure(BaseModel):
    stage: str
    ticker: str
    error: str | None


class RunWithFailures(Run):
    folder: str | None  # the run's folder under the outputs' runs/, where its reports are
    failures: list[Failure]
