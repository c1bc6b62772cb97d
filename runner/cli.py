"""`python -m runner <command>`: parse flags, resolve the run's settings, hand over to the chain.

Exit status: 0 every ticker succeeded, 1 a ticker or a stage failed, 2 bad usage or input (one
line, nothing written), 3 another run holds the lock.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from contextlib import contextmanager
from datetime import date
from functools import partial
from pathlib import Path

import pandas as pd

from runner import stages
from runner.chain import RunPlan, execute_plan, log
from runner.pipeline_config import check_pipeline
from runner.runs import check_writable
from stockcast import calendar
from stockcast.config import (
    SOURCES,
    check_tickers,
    exchange_for,
    load_pipeline_config,
    load_settings,
    pipeline_config_path,
)
from stockcast.errors import BadInput, StockcastError, Terminated


class Parser(argparse.ArgumentParser):
    """argparse, with its errors in one line like every other bad input (exit 2)."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def _date(text: str) -> str:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(text)
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD") from None


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a count: use a whole number >= 0")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: use a number from 1 to 65535")
    return int(text)


def _source_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tickers", help="comma-separated symbols (default: the universe)")
    parser.add_argument("--source", choices=SOURCES, help="where prices come from")
    parser.add_argument("--csv-dir", help="folder of <TICKER>.csv Yahoo exports (--source csv)")


def build_parser() -> argparse.ArgumentParser:
    shared = Parser(add_help=False)
    shared.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        help="pipeline settings file (default: runner/pipeline.yaml)",
    )
    parser = Parser(
        prog="python -m runner",
        parents=[shared],
        description="stockcast: next-session closing-price forecasts, run as notebook chains.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    add = partial(commands.add_parser, parents=[shared])
    add("demo", help="offline demo on the bundled sample: backfill, then a run")
    for kind, text in (
        ("daily", "ingest, features, train, predict, evaluate for one as-of"),
        ("weekly", "tune, then train with the tuned parameters"),
    ):
        sub = add(kind, help=text)
        _source_flags(sub)
        sub.add_argument("--as-of", type=_date, help="session to predict from (YYYY-MM-DD)")
    sub = add("backfill", help="replay the daily chain over past sessions")
    _source_flags(sub)
    sub.add_argument("--start", type=_date, required=True, help="first as-of session")
    sub.add_argument("--end", type=_date, required=True, help="last as-of session")
    sub = add("dashboard", help="serve the Voila dashboard")
    sub.add_argument("--port", type=_port, default=8866, help="port to serve on (default 8866)")
    sub.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sub.add_argument("--token", help="require this token (?token=...) to open the dashboard")
    sub = add("api", help="serve the read-only prediction API (FastAPI)")
    sub.add_argument("--port", type=_port, default=8000)
    sub.add_argument("--host", default="127.0.0.1")
    sub = add("status", help="the last runs and their per-ticker failures")
    sub.add_argument("--limit", type=_count, default=10)
    sub = add("prune", help="delete all but the newest N run folders")
    sub.add_argument("--keep", type=_count, required=True)
    return parser


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
    from stockcast import sources

    _check_csv_dir(source, csv_dir)
    chosen = check_tickers(tickers) if tickers else sources.list_tickers(source, csv_dir=csv_dir)
    if not chosen:
        raise BadInput(f"no tickers to run for source {source}: give --tickers A,B")
    for ticker in chosen:
        exchange_for(ticker)
    return chosen


def _last_data_date(source: str, tickers: list[str], csv_dir: str | None) -> pd.Timestamp:
    """Default as-of: the last closed session (yfinance) or the last date in the data.

    Local data (sample, csv) is read and validated here, so a run whose every ticker has
    unusable data stops as bad input before anything is written.
    """
    from stockcast import sources, validate

    if source == "yfinance":
        return min(calendar.last_closed_session(t) for t in tickers)
    fetched = sources.fetch_prices(source, tickers, csv_dir=csv_dir)
    valid, invalid = validate.validate_prices(fetched.prices)
    if valid.empty:
        reasons = "; ".join({**fetched.failures, **invalid}.values())
        raise BadInput(f"no usable prices from {source}: {reasons}")
    return valid["date"].max()


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


def plan_run(args: argparse.Namespace, pipeline: dict) -> RunPlan:
    """Resolve tickers, source and dates; every bad input raises BadInput before anything runs.
    `pipeline` are the checked settings of the file `--config` names."""
    kind = args.command
    source = "sample" if kind == "demo" else (args.source or pipeline.get("source") or "sample")
    csv_dir = getattr(args, "csv_dir", None)
    tickers = None if kind == "demo" else (args.tickers or pipeline.get("tickers") or None)
    tickers = _universe(source, tickers, csv_dir)
    common = {"tickers": tickers, "source": source, "csv_dir": csv_dir}
    if kind == "backfill":
        if args.start > args.end:
            raise BadInput(f"--start {args.start} is after --end {args.end}: swap them")
        common.update(start=args.start, end=_check_as_of(tickers, args.end), as_of=args.end)
    elif kind == "demo":
        as_of = _last_data_date(source, tickers, csv_dir)
        count = (pipeline.get("demo") or {}).get("backfill_sessions", 60)
        config = pipeline_config_path(getattr(args, "config", None))
        start, end = _demo_window(tickers[0], as_of, count, config)
        common.update(
            as_of=as_of.date().isoformat(),
            start=start.date().isoformat(),
            end=end.date().isoformat(),
        )
    else:
        as_of = args.as_of or _last_data_date(source, tickers, csv_dir)
        common["as_of"] = _check_as_of(tickers, as_of)
    return RunPlan(kind, stages.CHAINS[kind], common, pipeline)


def show_status(limit: int) -> int:
    """The last runs and their failed tickers; a reader: it never creates or migrates."""
    from stockcast import store

    engine = store.open_existing(load_settings().db_url)
    runs = store.recent_runs(engine, limit) if engine else pd.DataFrame()
    if runs.empty:
        log("no runs yet: try `make run`")
        return 0
    items = store.run_items(engine, runs["run_id"])
    for run in runs.itertuples():
        log(
            f"{run.run_id}  {run.kind:<8} as of {run.as_of_date}  {run.status:<9} "
            f"started {run.started_at:%Y-%m-%d %H:%M:%S}  {run.report_dir}"
        )
        failed = items[(items["run_id"] == run.run_id) & (items["status"] == "failed")]
        for item in failed.itertuples():
            log(f"    {item.ticker}: failed at {item.stage}: {item.error}")
    return 0


def prune_runs(keep: int) -> int:
    """Delete all but the newest `keep` run folders, under the run lock, never a running run's."""
    from runner import publish
    from runner.lock import hold_lock
    from runner.runs import is_running, new_run_id, prune
    from stockcast import store

    settings = load_settings()
    check_writable(settings)
    with hold_lock(settings, new_run_id("prune")):
        engine = store.open_existing(settings.db_url)
        runs = store.recent_runs(engine, limit=None) if engine else pd.DataFrame()
        running = set(runs["run_id"][runs["status"] == "running"]) if not runs.empty else set()
        deleted = prune(settings.runs_dir, keep, running)
        for folder in sorted(settings.runs_dir.glob("*/run.json")):
            if is_running(folder.parent, running):
                log(f"kept {folder.parent.name}: it is still running")
        publish.write_index(settings.runs_dir)
    log(f"deleted {len(deleted)} run folder(s), kept the newest {keep}")
    return 0


@contextmanager
def sigterm_raises():
    """While a command runs, SIGTERM (`timeout`, a container stop) raises Terminated, so the
    run's records are closed as they are on Ctrl-C; a second SIGTERM is ignored meanwhile."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace) -> int:
    """A pipeline run: settings and plan checked in full, the outputs folder writable, then
    the chain under the lock."""
    settings = load_settings()
    path = pipeline_config_path(getattr(args, "config", None))
    pipeline = check_pipeline(load_pipeline_config(path), path)
    plan = plan_run(args, pipeline)
    check_writable(settings)
    return execute_plan(plan, settings)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _dispatch(args)
    except StockcastError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except Terminated as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "status":
        return show_status(args.limit)
    if args.command == "prune":
        with sigterm_raises():
            return prune_runs(args.keep)
    if args.command == "dashboard":
        from runner.dashboard import serve

        return serve(args.host, args.port, args.token)
    if args.command == "api":
        from runner.api import serve as serve_api

        return serve_api(args.host, args.port)
    with sigterm_raises():
        return run(args)
