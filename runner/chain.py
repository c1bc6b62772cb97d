"""Run one chain: take the lock, record the run, execute each stage's notebook, publish reports.

The loop stops at the first failing stage and names its executed notebook. Tickers that fail a
stage are recorded in `run_item` by the notebook and left out of the stages after it. However
the run ends (a failure, a full disk, Ctrl-C or SIGTERM), its row and `run.json` are closed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from runner import publish
from runner.execute import StageFailure, declared_parameters, run_notebook
from runner.lock import hold_lock
from runner.runs import RunRecord, StageRecord, close_abandoned, new_run_id, write_params
from runner.stages import Stage, stage_parameters
from stockcast import reports, store
from stockcast.config import NOTEBOOKS_DIR, Settings, mask_secrets
from stockcast.errors import StockcastError, StorageError, describe


@dataclass
class RunPlan:
    """Everything resolved before the lock is taken: bad input fails here and writes nothing."""

    kind: str
    stages: list[Stage]
    common: dict
    pipeline: dict
    fetched: object = None  # the source as read to plan (sources.FetchResult), for ingest

    def describe_executor(self) -> str:
        """Where the per-ticker work runs, as the run's first log line says it."""
        from stockcast.executors import as_executor

        common = self.common
        return as_executor(common["executor"], common["workers"], common["scheduler"]).describe()


def log(message: str) -> None:
    print(message, flush=True)


def _one_line(error: BaseException) -> str:
    return describe(error)


def _failed_tickers(engine, run_id: str) -> dict[str, str]:
    items = store.run_items(engine, [run_id])
    failed = items[items["status"] == "failed"]
    return {row.ticker: f"{row.stage}: {row.error}" for row in failed.itertuples()}


def _first_failure(failed: dict[str, str]) -> str:
    """One line for a run where every ticker failed: the first reason and how many more."""
    ticker = sorted(failed)[0]
    more = len(failed) - 1
    return f"{ticker}: {failed[ticker]}" + (
        f" (and {more} more: `python -m runner status` lists them)" if more else ""
    )


def _skip_reason(stage: Stage, engine, common: dict) -> tuple[str | None, dict]:
    """Stages that only run when needed: the daily retune runs for alerted tickers only."""
    if stage.name != "tune-alerted":
        return None, common
    alerted = [t for t in store.pending_retunes(engine) if t in common["tickers"]]
    if not alerted:
        return "no performance-drop alert to act on", common
    return None, {**common, "tickers": alerted}


def _attach_reports(settings: Settings, kind: str, run_id: str, folder) -> None:
    """The executed notebooks and their HTML as artifacts of an MLflow run named after this one.

    MLflow being down must not fail a run whose results are already stored: it is logged.
    """
    from stockcast import tracking

    try:
        tracking.log_reports(settings, kind, run_id, folder)
    except Exception as exc:  # noqa: BLE001 - any tracking failure, reported in one line
        reason = mask_secrets(_one_line(exc), settings.tracking_uri)
        log(f"could not attach the reports to MLflow ({reason})")


def _render(executed, settings: Settings) -> str | None:
    """The HTML report of an executed notebook; one that cannot be rendered (a copy truncated
    by a full disk) is reported in one line and the run goes on."""
    try:
        return publish.render_html(
            executed, executed.with_suffix(".html"), settings.static_dir
        ).name
    except Exception as exc:  # noqa: BLE001 - nbconvert and the disk fail in many ways
        log(f"could not render {executed.name} as HTML ({_one_line(exc)})")
        return None


def _run_stage(stage: Stage, record: RunRecord, common: dict, plan: RunPlan, settings: Settings):
    declared = declared_parameters(stage.path)
    params = stage_parameters(stage, declared, common, plan.pipeline)
    executed = record.folder / stage.executed_name
    entry = StageRecord(stage.name, executed.name, status="running")
    record.stages.append(entry)
    record.save()
    started = time.monotonic()
    try:
        progress = lambda line: log(f"[{stage.name}] {line}")  # noqa: E731
        run_notebook(stage.path, executed, params, cwd=NOTEBOOKS_DIR, on_progress=progress)
        entry.status = "ok"
    except (StageFailure, StockcastError) as failure:
        entry.status, entry.error = "failed", str(failure)
        raise
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: no report, the run closes at once
        entry.status = "interrupted"
        raise
    finally:
        entry.seconds = round(time.monotonic() - started, 1)
        if executed.is_file() and entry.status != "interrupted":
            entry.html = _render(executed, settings)
        record.save()
    return params


def execute_plan(plan: RunPlan, settings: Settings) -> int:
    """Run the plan under the lock; return the exit status (0 all ok, 1 some failure)."""
    run_id = new_run_id(plan.kind)
    with hold_lock(settings, run_id):
        engine = store.connect(settings.db_url)
        for abandoned in store.mark_abandoned(engine):  # under the lock: their holders died
            close_abandoned(settings.runs_dir / abandoned)
            log(f"marked run {abandoned} as abandoned: its holder died")
        folder = settings.runs_dir / run_id
        common = {**plan.common, "run_id": run_id, "kind": plan.kind}
        if plan.fetched is not None:  # ingest reads the source from here: once a run
            common["prefetched"] = str(folder / "fetched.parquet")
        try:
            folder.mkdir(parents=True)
            if plan.fetched is not None:
                plan.fetched.save(common["prefetched"])
        except OSError as error:
            raise StorageError.writing(folder, error) from None
        record = RunRecord(run_id, plan.kind, common.get("as_of"), folder)
        store.start_run(engine, run_id, plan.kind, common.get("as_of"), str(folder))
        status = "failed"
        try:
            log(
                f"run {run_id}: {plan.kind} as of {common.get('as_of')} for "
                f"{reports.some(common['tickers'], shown=10)}, "
                f"per-ticker work {plan.describe_executor()}; reports in {folder}"
            )
            status = _execute_stages(plan, settings, engine, record, common)
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:  # whatever ended the run, its records are closed
            _close_run(settings, engine, record, status)
    return 0 if status == "ok" else 1


def _close_run(settings: Settings, engine, record: RunRecord, status: str) -> None:
    """Close the run's row, then its `run.json`, then publish. Each step may fail alone (a full
    disk, MLflow down) and is reported in one line; the row comes first, as it is what the next
    run and `status` read. An interrupted run skips MLflow, to exit at once."""
    record.status = status
    record.finished_at = datetime.now(UTC).isoformat()
    steps = [
        ("its row", lambda: store.finish_run(engine, record.run_id, status)),
        ("run.json", record.save),
    ]
    if status != "interrupted":
        steps.append(
            ("MLflow", lambda: _attach_reports(settings, record.kind, record.run_id, record.folder))
        )
    steps.append(("runs/index.html", lambda: publish.write_index(settings.runs_dir)))
    for name, step in steps:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - the other records are still closed
            log(f"could not record the end of run {record.run_id} in {name} ({_one_line(exc)})")
    engine.dispose()
    log(f"run {record.run_id} {status}: {record.folder / 'run.json'}")


def _execute_stages(plan, settings, engine, record: RunRecord, common: dict) -> str:
    resolved = {}
    status = "ok"
    for stage in plan.stages:
        skip, stage_common = _skip_reason(stage, engine, common)
        if skip:
            log(f"[{stage.name}] skipped: {skip}")
            continue
        started = time.monotonic()
        try:
            resolved[stage.name] = _run_stage(stage, record, stage_common, plan, settings)
        except StageFailure as failure:
            log(f"[{stage.name}] FAILED: {failure}")
            status = "failed"
            break
        finally:
            write_params(record.folder, {"kind": plan.kind, "common": common, "stages": resolved})
        failed = _failed_tickers(engine, record.run_id)
        record.tickers = {t: {"error": e} for t, e in failed.items()}
        record.failed_tickers = sorted(failed)
        record.save()
        remaining = [t for t in common["tickers"] if t not in failed]
        outcome = "ok" if remaining else "done, every ticker failed"
        log(
            f"[{stage.name}] {outcome} in {time.monotonic() - started:.0f}s"
            + (f"; failed so far: {', '.join(sorted(failed))}" if failed and remaining else "")
        )
        if not remaining:
            log(
                f"every ticker has failed by stage {stage.name}, stopping: {_first_failure(failed)}"
            )
            status = "failed"
            break
        common = {**common, "tickers": remaining}
    if status == "ok" and record.failed_tickers:
        status = "partial"
    return status
