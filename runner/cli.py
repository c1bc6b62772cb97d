"""`python -m runner <command>`: parse flags, resolve the run's settings, hand over to the chain.

Exit status: 0 every ticker succeeded, 1 a ticker or a stage failed, 2 bad usage or input (one
line, nothing written), 3 another run holds the lock.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial

import pandas as pd

from runner import stages
from runner.chain import RunPlan, execute_plan, log
from stockcast import calendar
from stockcast.config import check_tickers, exchange_for, load_pipeline_config, load_settings
from stockcast.errors import BadInput, StockcastError

SOURCES = ("sample", "csv", "yfinance")


def _date(text: str) -> str:
    try:
        return pd.Timestamp(text).date().isoformat()
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD") from None


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a count: use a whole number >= 0")
    return int(text)


def _source_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tickers", help="comma-separated symbols (default: the universe)")
    parser.add_argument("--source", choices=SOURCES, help="where prices come from")
    parser.add_argument("--csv-dir", help="folder of <TICKER>.csv Yahoo exports (--source csv)")


def build_parser() -> argparse.ArgumentParser:
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        help="pipeline settings file (default: runner/pipeline.yaml)",
    )
    parser = argparse.ArgumentParser(
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
    sub.add_argument("--port", type=int, default=8866, help="port to serve on (default 8866)")
    sub.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sub.add_argument("--token", help="require this token (?token=...) to open the dashboard")
    sub = add("api", help="serve the read-only prediction API (FastAPI)")
    sub.add_argument("--port", type=int, default=8000)
    sub.add_argument("--host", default="127.0.0.1")
    sub = add("status", help="the last runs and their per-ticker failures")
    sub.add_argument("--limit", type=int, default=10)
    sub = add("prune", help="delete all but the newest N run folders")
    sub.add_argument("--keep", type=_count, required=True)
    return parser


def _universe(source: str, tickers, csv_dir: str | None) -> list[str]:
    from stockcast import sources

    if source == "csv" and not csv_dir:
        raise BadInput("--source csv needs --csv-dir DIR: the folder of <TICKER>.csv files")
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


def _check_as_of(tickers: list[str], as_of) -> str:
    for ticker in tickers:
        calendar.check_as_of(ticker, as_of)
    return pd.Timestamp(as_of).date().isoformat()


def plan_run(args: argparse.Namespace, pipeline: dict) -> RunPlan:
    """Resolve tickers, source and dates; every bad input raises BadInput before anything runs."""
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
        count = int((pipeline.get("demo") or {}).get("backfill_sessions", 60))
        ticker_sessions = calendar.sessions(tickers[0], as_of - pd.Timedelta(days=3 * count), as_of)
        start, end = ticker_sessions[-count - 1], ticker_sessions[-2]
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
    from stockcast import store

    settings = load_settings()
    engine = store.connect(settings.db_url)
    runs = store.recent_runs(engine, limit)
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "status":
            return show_status(args.limit)
        if args.command == "prune":
            from runner import publish
            from runner.runs import prune

            settings = load_settings()
            deleted = prune(settings.runs_dir, args.keep)
            publish.write_index(settings.runs_dir)
            log(f"deleted {len(deleted)} run folder(s), kept the newest {args.keep}")
            return 0
        if args.command == "dashboard":
            from runner.dashboard import serve

            return serve(args.host, args.port, args.token)
        if args.command == "api":
            from runner.api import serve as serve_api

            return serve_api(args.host, args.port)
        settings = load_settings()
        plan = plan_run(args, load_pipeline_config(getattr(args, "config", None)))
        return execute_plan(plan, settings)
    except StockcastError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
