"""A run's plan, resolved before the lock: its tickers, source, dates and executor.

Every bad input raises BadInput here, so a run that cannot start writes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from runner import stages
from runner.chain import RunPlan, log
from stockcast import calendar, cluster, executors, universe
from stockcast.config import Settings, check_tickers, exchange_for, pipeline_config_path
from stockcast.errors import BadInput


def _check_csv_dir(source: str, csv_dir: str | None) -> None:
    if source == "csv" and not csv_dir:
        raise BadInput("--source csv needs --csv-dir DIR: the folder of <TICKER>.csv files")
    if csv_dir and source != "csv":
        raise BadInput(
            f"--csv-dir is for --source csv, and this run's source is {source}: "
            "add --source csv, or drop --csv-dir"
        )
    if csv_dir and Path(csv_dir).expanduser().is_file():
        raise BadInput(
            f"--csv-dir {csv_dir} is a file, not a folder: give the folder that holds the "
            "<TICKER>.csv files"
        )


def _universe(source: str, tickers, csv_dir: str | None) -> list[str]:
    """The run's tickers: symbols (a list or A,B), a universe (`universe.Universe`), or else
    the source's own universe."""
    from stockcast import sources

    _check_csv_dir(source, csv_dir)
    if isinstance(tickers, universe.Universe):
        log(tickers.note())
        tickers = tickers.tickers
    chosen = check_tickers(tickers) if tickers else sources.list_tickers(source, csv_dir=csv_dir)
    if not chosen:
        raise BadInput(f"no tickers to run for source {source}: give --tickers A,B")
    for ticker in chosen:
        exchange_for(ticker)
    return chosen


def _last_data_date(source: str, tickers: list[str], csv_dir: str | None):
    """Default as-of: the last closed session (yfinance) or the last date in the data, and the
    source as read for it (None for yfinance), which ingest then takes instead of reading again.

    Local data (sample, csv) is read and validated here, so a run whose every ticker has
    unusable data stops as bad input before anything is written.
    """
    from stockcast import sources, validate

    if source == "yfinance":
        return min(calendar.last_closed_session(t) for t in tickers), None
    fetched = sources.fetch_prices(source, tickers, csv_dir=csv_dir)
    valid, invalid = validate.validate_prices(fetched.prices)
    if valid.empty:
        reasons = "; ".join({**fetched.failures, **invalid}.values())
        raise BadInput(f"no usable prices from {source}: {reasons}")
    return valid["date"].max(), fetched


def _demo_window(ticker: str, as_of: pd.Timestamp, count: int, config: Path):
    """The first and last as-of sessions of the demo's backfill: the `count` before `as_of`."""
    days = pd.Timedelta(days=3 * min(count, 10_000))  # 3 calendar days hold a session, and more
    window = calendar.sessions(ticker, as_of - days, as_of)
    if len(window) <= count:
        raise BadInput(
            f"{config}: demo.backfill_sessions {count} is more than the {len(window) - 1} "
            f"sessions the calendar has before {as_of.date()}: lower it"
        )
    return window[-count - 1], window[-2]


def _check_as_of(tickers: list[str], as_of) -> str:
    for ticker in tickers:
        calendar.check_as_of(ticker, as_of)
    return pd.Timestamp(as_of).date().isoformat()


def resolve_executor(args: argparse.Namespace, pipeline: dict, settings: Settings):
    """Where per-ticker work runs: flags over pipeline.yaml; the scheduler from --scheduler or
    STOCKCAST_DASK_SCHEDULER. A dask run on SQLite, or with a scheduler that does not answer,
    is BadInput here, before the lock and the run record."""
    executor = executors.from_settings(
        getattr(args, "executor", None) or pipeline.get("executor") or "auto",
        getattr(args, "workers", None) or pipeline.get("workers"),
        getattr(args, "scheduler", None),
        settings,
    )
    if executor.scheduler:
        cluster.check_scheduler(executor.scheduler)
    return executor


def _asked_tickers(args: argparse.Namespace, pipeline: dict):
    """--tickers, else --universe (a path from the working directory), else pipeline.yaml's
    tickers (symbols, or a universe already resolved by its check)."""
    if args.tickers:
        return args.tickers
    if getattr(args, "universe", None):
        return universe.load_universe(args.universe)
    named = pipeline.get("tickers")
    if isinstance(named, str):  # the check kept a universe as its name or absolute path
        return universe.load_universe(named)
    return named or None


def plan_run(args: argparse.Namespace, pipeline: dict, settings: Settings) -> RunPlan:
    """Resolve executor, tickers, source and dates; every bad input raises BadInput before
    anything runs. `pipeline` are the checked settings of the file `--config` names."""
    kind = args.command
    executor = resolve_executor(args, pipeline, settings)
    source = "sample" if kind == "demo" else (args.source or pipeline.get("source") or "sample")
    csv_dir = getattr(args, "csv_dir", None)
    tickers = None if kind == "demo" else _asked_tickers(args, pipeline)
    tickers = _universe(source, tickers, csv_dir)
    common = {"tickers": tickers, "source": source, "csv_dir": csv_dir}
    common.update(executor=executor.kind, workers=executor.workers, scheduler=executor.scheduler)
    fetched = None
    if kind == "backfill":
        if args.start > args.end:
            raise BadInput(f"--start {args.start} is after --end {args.end}: swap them")
        common.update(start=args.start, end=_check_as_of(tickers, args.end), as_of=args.end)
    elif kind == "demo":
        as_of, fetched = _last_data_date(source, tickers, csv_dir)
        count = (pipeline.get("demo") or {}).get("backfill_sessions", 60)
        config = pipeline_config_path(getattr(args, "config", None))
        start, end = _demo_window(tickers[0], as_of, count, config)
        common.update(
            as_of=as_of.date().isoformat(),
            start=start.date().isoformat(),
            end=end.date().isoformat(),
        )
    else:
        as_of = args.as_of
        if not as_of:
            as_of, fetched = _last_data_date(source, tickers, csv_dir)
        common["as_of"] = _check_as_of(tickers, as_of)
    return RunPlan(kind, stages.CHAINS[kind], common, pipeline, fetched)
