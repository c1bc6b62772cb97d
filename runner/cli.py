"""`python -m runner <command>`: parse flags, resolve the run's settings, hand over to the chain.

Exit status: 0 every ticker succeeded, 1 a ticker or a stage failed, 2 bad usage or input (one
line, nothing written), 3 another run holds the lock; 130 on Ctrl-C and 143 on SIGTERM, the run
then recorded as `interrupted`.
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

import pandas as pd

from runner.chain import execute_plan, log
from runner.pipeline_config import check_pipeline
from runner.plan import plan_run
from runner.runs import check_writable
from stockcast.config import (
    SOURCES,
    load_pipeline_config,
    load_settings,
    pipeline_config_path,
)
from stockcast.errors import StockcastError, Terminated
from stockcast.executors import EXECUTORS


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
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--tickers", help="comma-separated symbols (default: the universe)")
    chosen.add_argument(
        "--universe", help="a bundled universe (sp500) or a text file of symbols, one a line"
    )
    parser.add_argument("--source", choices=SOURCES, help="where prices come from")
    parser.add_argument("--csv-dir", help="folder of <TICKER>.csv Yahoo exports (--source csv)")


def _workers(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count: use a whole number >= 1")
    return int(text)


def _executor_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--executor", choices=EXECUTORS, help="where per-ticker work runs (default: pipeline.yaml)"
    )
    parser.add_argument("--workers", type=_workers, help="worker processes (default: one per core)")
    parser.add_argument(
        "--scheduler",
        help="an existing Dask scheduler, tcp://HOST:PORT (default: STOCKCAST_DASK_SCHEDULER, "
        "else a local cluster)",
    )


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
    _executor_flags(add("demo", help="offline demo on the bundled sample: backfill, then a run"))
    for kind, text in (
        ("daily", "ingest, features, train, predict, evaluate for one as-of"),
        ("weekly", "tune, then train with the tuned parameters"),
    ):
        sub = add(kind, help=text)
        _source_flags(sub)
        _executor_flags(sub)
        sub.add_argument("--as-of", type=_date, help="session to predict from (YYYY-MM-DD)")
    sub = add("backfill", help="replay the daily chain over past sessions")
    _source_flags(sub)
    _executor_flags(sub)
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
    plan = plan_run(args, pipeline, settings)
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
