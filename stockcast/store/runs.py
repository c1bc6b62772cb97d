"""`pipeline_run` and `run_item`: a run's record (kind, as-of date, status, report folder) and
each stage's per-ticker outcome, including the performance-drop alerts that trigger a retune."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from stockcast.store.rows import read_frame, upsert, utc_now
from stockcast.store.schema import model_params, pipeline_run, run_item

# --- writing ----------------------------------------------------------------------------------


def _as_date(value) -> date | None:
    return None if value is None else pd.Timestamp(value).date()


def start_run(engine: Engine, run_id: str, kind: str, as_of, report_dir: str) -> None:
    """Record the run as `running` from now, with the folder its reports go to."""
    record = {
        "run_id": run_id,
        "kind": kind,
        "as_of_date": _as_date(as_of),
        "started_at": utc_now(),
        "finished_at": None,
        "status": "running",
        "report_dir": report_dir,
    }
    with engine.begin() as conn:
        upsert(conn, pipeline_run, [record])


def finish_run(engine: Engine, run_id: str, status: str, as_of: date | None = None) -> None:
    """Close the run with its final status (and the as-of date it settled on, when given)."""
    values = {"status": status, "finished_at": utc_now()}
    if as_of is not None:
        values["as_of_date"] = _as_date(as_of)
    with engine.begin() as conn:
        conn.execute(sa.update(pipeline_run).where(pipeline_run.c.run_id == run_id).values(values))


def mark_abandoned(engine: Engine, except_run: str | None = None) -> list[str]:
    """Mark `running` runs as `abandoned`: called under the lock, so their holder has died."""
    where = [pipeline_run.c.status == "running"]
    if except_run:
        where.append(pipeline_run.c.run_id != except_run)
    with engine.begin() as conn:
        ids = conn.execute(sa.select(pipeline_run.c.run_id).where(*where)).scalars().all()
        if ids:
            conn.execute(
                sa.update(pipeline_run)
                .where(*where)
                .values(status="abandoned", finished_at=utc_now())
            )
    return list(ids)


def record_items(
    engine: Engine, run_id: str, stage: str, statuses: Mapping[str, tuple[str, str | None]]
) -> None:
    """Record per-ticker outcomes of a stage: {ticker: (status, error or None)}."""
    records = [
        {"run_id": run_id, "stage": stage, "ticker": ticker, "status": status, "error": error}
        for ticker, (status, error) in statuses.items()
    ]
    with engine.begin() as conn:
        upsert(conn, run_item, records)


def record_outcomes(
    engine: Engine,
    run_id: str,
    stage: str,
    tickers: Iterable[str],
    failures: Mapping[str, str],
    notes: Mapping[str, str] | None = None,
) -> None:
    """Record a stage's outcome for every ticker: `failed` with its reason, `note` with a
    remark (e.g. only naive could be trained), else `ok`."""
    statuses = {t: ("ok", None) for t in tickers}
    statuses.update({t: ("note", remark) for t, remark in (notes or {}).items()})
    statuses.update({t: ("failed", reason) for t, reason in failures.items()})
    record_items(engine, run_id, stage, statuses)


def record_alerts(engine: Engine, run_id: str, alerts: pd.DataFrame) -> None:
    """Record performance-drop alerts (ticker, message): the next run retunes those tickers."""
    statuses = {row.ticker: ("alert", row.message) for row in alerts.itertuples()}
    if statuses:
        record_items(engine, run_id, "alert", statuses)


# --- reading ----------------------------------------------------------------------------------


def recent_runs(engine: Engine, limit: int = 10) -> pd.DataFrame:
    """The newest runs first."""
    query = sa.select(pipeline_run).order_by(pipeline_run.c.started_at.desc()).limit(limit)
    return read_frame(engine, query)


def run_items(engine: Engine, run_ids: Iterable[str]) -> pd.DataFrame:
    """Per-ticker outcomes of the given runs."""
    query = (
        sa.select(run_item)
        .where(run_item.c.run_id.in_(list(run_ids)))
        .order_by(run_item.c.run_id, run_item.c.stage, run_item.c.ticker)
    )
    return read_frame(engine, query)


def last_successful_run(engine: Engine) -> dict | None:
    """The newest run that finished with every ticker ok."""
    query = (
        sa.select(pipeline_run)
        .where(pipeline_run.c.status == "ok")
        .order_by(pipeline_run.c.started_at.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def pending_retunes(engine: Engine) -> list[str]:
    """Tickers with a performance-drop alert not followed by a tune in a later-started run."""
    alert_run, tune_run = pipeline_run.alias("alert_run"), pipeline_run.alias("tune_run")
    retuned = (
        sa.select(model_params.c.ticker)
        .join(tune_run, tune_run.c.run_id == model_params.c.run_id)
        .where(
            model_params.c.ticker == run_item.c.ticker,
            tune_run.c.started_at > alert_run.c.started_at,
        )
    )
    query = (
        sa.select(run_item.c.ticker)
        .distinct()
        .join(alert_run, alert_run.c.run_id == run_item.c.run_id)
        .where(run_item.c.stage == "alert", ~sa.exists(retuned))
        .order_by(run_item.c.ticker)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())
