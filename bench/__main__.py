"""`make bench`: wall time and peak memory per stage and per ticker, written to `bench.json`.

Three measurements, each in a fresh outputs folder so nothing is cached:
- `demo`: the offline demo (`python -m runner demo`, 4 sample tickers), stage by stage;
- `synthetic`: a SYNTHETIC universe of 50 tickers (real daily returns of the sample,
  block-resampled onto made-up symbols SYN01..SYN50 and written as Yahoo CSV exports) through
  the weekly chain, plus each ticker's feature and training cost measured in-process;
- `backfill`: a 750-session backfill of two tickers (AAPL, MSFT from the sample);
- `scale`: issue 12's targets on a SYNTHETIC universe of 500 tickers x 1,500 sessions
  (bench/scale.py: weekly and daily chains at 500 and 50 tickers, a 250-session backfill, the
  train stage on 1 and 2 processes and on Dask, the compute floor), each measure saved as it
  ends, PASS/MISS printed.
`--only demo` measures just the demo (a few minutes): the before/after figure of a change;
`--only scale --measures executors` one measure of the scale part.
Sections not measured keep their previous figures in `bench.json`, each stamped with its
commit and time. Peak memory is the largest resident set of the runner and its kernels.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.chains import backfill_quality, run_chain
from bench.scale import MEASURES, measure_scale
from bench.scale_report import summarize_scale
from bench.synthetic import (
    SYNTHETIC_LABEL,
    as_long_prices,
    make_synthetic_universe,
    measure_tickers,
    summarize,
    write_csvs,
)
from runner.runs import git_commit
from stockcast.config import load_pipeline_config, load_settings

PARTS = ("demo", "synthetic", "backfill", "scale")
BACKFILL_KEY = "backfill_750_sessions_2_tickers"


def measure_demo(scratch: Path) -> dict:
    return run_chain(["demo"], scratch / "demo")


def measure_synthetic(scratch: Path, sample, n_tickers: int, n_sessions: int) -> dict:
    universe = make_synthetic_universe(sample, n_tickers, n_sessions)
    csv_dir = write_csvs(universe, scratch / "synthetic_csv")
    chain = run_chain(["weekly", "--source", "csv", "--csv-dir", str(csv_dir)], scratch / "synth")
    per_ticker = measure_tickers(as_long_prices(universe))
    return {
        "label": SYNTHETIC_LABEL,
        "tickers": n_tickers,
        "sessions": n_sessions,
        "chain": chain,
        "per_ticker": per_ticker,
        "per_ticker_summary": summarize(per_ticker),
    }


def measure_backfill(scratch: Path, sample) -> dict:
    dates = sample.loc[sample["ticker"] == "AAPL", "date"]
    start, end = dates.iloc[-751].date().isoformat(), dates.iloc[-2].date().isoformat()
    args = ["backfill", "--tickers", "AAPL,MSFT", "--start", start, "--end", end]
    backfill = run_chain(args, scratch / "backfill")
    backfill["quality"] = backfill_quality(scratch / "backfill")
    return backfill


def current_stamp() -> dict:
    """When and on which commit a section was measured."""
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
    }


def save_report(measured: dict) -> dict:
    """Merge the measured sections into `bench.json` (the others keep their figures)."""
    target = load_settings().bench_path
    previous = json.loads(target.read_text()) if target.is_file() else {}
    bench = merge(previous, measured)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(bench, indent=2))
    return bench


def scale_saver(previous: dict | None) -> callable:
    """What saves the scale section after each measure: over the previous section's measures
    when it was measured on a universe of the same size, each measure stamped as it ends with
    the commit checked out when the bench started (the code it imported)."""
    kept = dict(previous or {})
    stamps: dict[str, dict] = {}
    commit = git_commit()

    def save(scale: dict) -> None:
        if (kept.get("tickers"), kept.get("sessions")) != (scale["tickers"], scale["sessions"]):
            kept.clear()
        for name, figures in scale.items():
            if isinstance(figures, dict):  # a measure: stamped when it first ends
                stamp = {**current_stamp(), "git_commit": commit}
                kept[name] = {**figures, **stamps.setdefault(name, stamp)}
            else:
                kept[name] = figures
        save_report({"scale": kept})

    return save


def measure_scale_part(scratch: Path, sample, args) -> dict:
    """The scale part on a synthetic universe of args.tickers (500) x args.sessions, saved
    measure by measure into bench.json."""
    target = load_settings().bench_path
    previous = json.loads(target.read_text()).get("scale") if target.is_file() else None
    universe = make_synthetic_universe(sample, args.tickers or 500, args.sessions)
    options = {
        "small": args.small,
        "backfill_sessions": args.backfill_sessions,
        "floor_tickers": args.floor_tickers,
        "grids": load_pipeline_config()["tune"]["grids"],
    }
    save = scale_saver(previous)
    measure_scale(universe, scratch, args.measures, options, save)
    return json.loads(target.read_text())["scale"]


def run_bench(args: argparse.Namespace) -> dict:
    """The measured sections, each stamped with when and on which commit it was measured."""
    from stockcast import sources

    sample = sources.fetch_prices("sample", None).prices
    stamp = current_stamp()
    report = {}
    with tempfile.TemporaryDirectory(prefix="stockcast-bench-") as scratch:
        scratch = Path(scratch)
        if "demo" in args.only:
            report["demo"] = {**stamp, **measure_demo(scratch)}
        if "synthetic" in args.only:
            synthetic = measure_synthetic(scratch, sample, args.tickers or 50, args.sessions)
            report["synthetic"] = {**stamp, **synthetic}
        if "backfill" in args.only:
            report[BACKFILL_KEY] = {**stamp, **measure_backfill(scratch, sample)}
        if "scale" in args.only:
            report["scale"] = measure_scale_part(scratch, sample, args)
    return report


def merge(previous: dict, measured: dict) -> dict:
    """The new sections over the previous report's, with this machine's description."""
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    return {**previous, **measured, "generated_at": generated, "machine": machine}


def to_markdown(bench: dict) -> str:
    """The README's table of the latest figures (the sections the report holds)."""
    lines = ["| run | stage | seconds | peak RSS (MB) |", "|---|---|---:|---:|"]
    chains = []
    if "demo" in bench:
        chains.append(("demo (4 sample tickers)", bench["demo"]))
    if "synthetic" in bench:
        synthetic = bench["synthetic"]
        chains.append((f"weekly, {synthetic['tickers']} synthetic tickers", synthetic["chain"]))
    if BACKFILL_KEY in bench:
        chains.append(("backfill, 750 sessions x 2 tickers", bench[BACKFILL_KEY]))
    for name, chain in chains:
        if "startup_seconds" in chain:  # imports, settings, lock: before the first stage
            lines.append(f"| {name} | (start-up) | {chain['startup_seconds']} | |")
        for stage in chain["stages"]:
            lines.append(
                f"| {name} | {stage['stage']} | {stage['seconds']} | {stage['peak_rss_mb']} |"
            )
        if "closing_seconds" in chain:  # MLflow artifacts, the runs index: after the last one
            lines.append(f"| {name} | (closing) | {chain['closing_seconds']} | |")
        lines.append(
            f"| {name} | **whole run** | **{chain['wall_seconds']}** | **{chain['peak_rss_mb']}** |"
        )
    if "synthetic" in bench:
        per = bench["synthetic"]["per_ticker_summary"]
        lines.append("")
        lines.append(
            f"Per synthetic ticker (in-process): features median {per['features_s']['median']}"
            f" s, training median {per['train_s']['median']} s (p90 {per['train_s']['p90']}"
            f" s), peak Python allocations median {per['peak_python_mb']['median']} MB."
        )
    return "\n".join(lines)


def parse_choices(text: str, choices: tuple[str, ...], what: str = "part") -> list[str]:
    """A comma-separated selection from `choices`; an unknown or empty one is refused."""
    chosen = [p.strip() for p in text.split(",") if p.strip()]
    unknown = sorted(set(chosen) - set(choices))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown) or '(none)'}: choose from {', '.join(choices)}"
        )
    return chosen


def parse_parts(text: str) -> list[str]:
    return parse_choices(text, PARTS)


def parse_measures(text: str) -> list[str]:
    return parse_choices(text, MEASURES, "measure")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only", type=parse_parts, default=list(PARTS), help="comma-separated: " + ",".join(PARTS)
    )
    parser.add_argument(
        "--tickers", type=int, help="synthetic universe size (synthetic: 50, scale: 500)"
    )
    parser.add_argument("--sessions", type=int, default=1500, help="sessions per synthetic ticker")
    parser.add_argument(
        "--measures",
        type=parse_measures,
        default=list(MEASURES),
        help="scale part, comma-separated: " + ",".join(MEASURES),
    )
    parser.add_argument("--small", type=int, default=50, help="scale: tickers of the small chains")
    parser.add_argument("--backfill-sessions", type=int, default=250, help="scale: backfill length")
    parser.add_argument(
        "--floor-tickers", type=int, default=50, help="scale: tickers timed for the compute floor"
    )
    args = parser.parse_args(argv)
    measured = run_bench(args)
    bench = save_report(measured)
    target = load_settings().bench_path
    print(to_markdown(bench))
    if "scale" in measured:
        print("\n" + summarize_scale(measured["scale"]))
    if "demo" in measured:
        demo = measured["demo"]
        print(f"\ndemo wall time: {demo['wall_seconds']} s (commit {demo['git_commit']})")
    print(f"\nwritten to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
