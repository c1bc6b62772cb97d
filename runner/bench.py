"""`make bench`: wall time and peak memory per stage and per ticker, written to `bench.json`.

Three measurements, each in a fresh outputs folder so nothing is cached:
- the offline demo chain (4 sample tickers);
- a SYNTHETIC universe of 50 tickers (real daily returns of the sample, block-resampled onto
  made-up symbols SYN01..SYN50 and written as Yahoo CSV exports) through the weekly chain,
  plus each ticker's feature and training cost measured in-process;
- a 750-session backfill of two tickers (AAPL, MSFT from the sample).
Peak memory of a stage is the largest resident set of the runner and its kernel, sampled.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from stockcast.config import REPO_ROOT, load_settings

SYNTHETIC_LABEL = (
    "SYNTHETIC: real daily returns of the bundled sample, block-resampled (20-session blocks) "
    "onto made-up symbols; not market data"
)
BLOCK = 20


def make_synthetic_universe(
    prices: pd.DataFrame, n_tickers: int, n_sessions: int, seed: int = 7
) -> dict[str, pd.DataFrame]:
    """Yahoo-export frames for SYN01.. built from resampled real returns of `prices`."""
    rng = np.random.default_rng(seed)
    dates = prices.loc[prices["ticker"] == "AAPL", "date"].sort_values().iloc[-n_sessions:]
    universe = {}
    sources = sorted(prices["ticker"].unique())
    for number in range(1, n_tickers + 1):
        source = prices[prices["ticker"] == sources[rng.integers(len(sources))]]
        source = source.sort_values("date").reset_index(drop=True)
        returns = np.log(source["adj_close"]).diff().to_numpy()[1:]
        starts = rng.integers(0, len(returns) - BLOCK, size=n_sessions // BLOCK + 1)
        picked = np.concatenate([np.arange(s, s + BLOCK) for s in starts])[:n_sessions]
        close = 50.0 * np.exp(np.cumsum(returns[picked]))
        day = source.iloc[picked + 1]  # the source day whose intraday shape is borrowed
        universe[f"SYN{number:02d}"] = pd.DataFrame(
            {
                "Date": dates.dt.strftime("%Y-%m-%d").to_numpy(),
                "Open": close * (day["open"] / day["close"]).to_numpy(),
                "High": close * (day["high"] / day["close"]).to_numpy(),
                "Low": close * (day["low"] / day["close"]).to_numpy(),
                "Close": close,
                "Adj Close": close,
                "Volume": day["volume"].to_numpy(),
            }
        ).round(4)
    return universe


def write_csvs(universe: dict[str, pd.DataFrame], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for ticker, frame in universe.items():
        frame.to_csv(folder / f"{ticker}.csv", index=False)
    return folder


class TreeMemory:
    """Samples the resident memory of a process and its children until stopped."""

    def __init__(self, pid: int, interval: float = 0.2):
        import psutil

        self.root, self.interval = psutil.Process(pid), interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psutil

        while not self._stop.is_set():
            try:
                processes = [self.root, *self.root.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in processes if p.is_running())
            except psutil.Error:
                rss = 0
            self.samples.append((time.time(), rss / 2**20))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def peak_between(self, start: float, end: float) -> float | None:
        inside = [mb for stamp, mb in self.samples if start <= stamp <= end]
        return round(max(inside), 1) if inside else None


def run_chain(args: list[str], outputs: Path) -> dict:
    """Run `python -m runner <args>` in `outputs`; per stage: seconds and peak memory."""
    env = {**os.environ, "STOCKCAST_OUTPUTS": str(outputs)}
    env.pop("STOCKCAST_DB_URL", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    started = time.time()
    process = subprocess.Popen(
        [sys.executable, "-m", "runner", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    with TreeMemory(process.pid) as memory:
        output, _ = process.communicate()
    wall = time.time() - started
    if process.returncode != 0:
        raise RuntimeError(f"runner {' '.join(args)} exited {process.returncode}:\n{output}")
    record = json.loads(next((outputs / "runs").glob("*/run.json")).read_text())
    stages, clock = [], datetime.fromisoformat(record["started_at"]).timestamp()
    for stage in record["stages"]:
        end = clock + (stage["seconds"] or 0)
        stages.append(
            {
                "stage": stage["name"],
                "seconds": stage["seconds"],
                "peak_rss_mb": memory.peak_between(clock, end + 0.5),
            }
        )
        clock = end
    return {
        "command": " ".join(["python -m runner", *args]),
        "wall_seconds": round(wall, 1),
        "peak_rss_mb": memory.peak_between(started, time.time()),
        "stages": stages,
    }


def backfill_quality(outputs: Path) -> list[dict]:
    """Per ticker of a finished backfill: RMSE of each model and of the served forecast
    relative to naive, and how often naive was served."""
    from stockcast import store

    evals = store.load_evaluations(store.connect(f"sqlite:///{outputs / 'stockcast.db'}"))
    evals = evals.assign(squared=(evals["pred_close"] - evals["true_close"]) ** 2)
    rows = []
    for ticker, one in evals.groupby("ticker"):
        rmse = one.groupby("model")["squared"].mean() ** 0.5
        served = one[one["is_champion"]]
        rows.append(
            {
                "ticker": ticker,
                "sessions": int(served["target_date"].nunique()),
                **{f"{m}_vs_naive": round(float(rmse[m] / rmse["naive"]), 4) for m in rmse.index},
                "served_vs_naive": round(float(served["squared"].mean() ** 0.5 / rmse["naive"]), 4),
                "naive_served_share": round(float((served["model"] == "naive").mean()), 4),
            }
        )
    return rows


def measure_tickers(prices: pd.DataFrame) -> list[dict]:
    """Per ticker, in-process: features and training (walk-forward selection + final fits)."""
    from stockcast import features, train

    rows = []
    for ticker, one in prices.groupby("ticker", sort=True):
        tracemalloc.start()
        clock = time.perf_counter()
        table = features.make_features(one)
        features_s = time.perf_counter() - clock
        clock = time.perf_counter()
        train.fit_ticker(table, None, train.TrainSettings())
        fit_s = time.perf_counter() - clock
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        rows.append(
            {
                "ticker": ticker,
                "rows": len(one),
                "features_s": round(features_s, 3),
                "train_s": round(fit_s, 3),
                "peak_python_mb": round(peak, 1),
            }
        )
    return rows


def summarize(per_ticker: list[dict]) -> dict:
    frame = pd.DataFrame(per_ticker)
    return {
        column: {
            "median": round(float(frame[column].median()), 3),
            "p90": round(float(frame[column].quantile(0.9)), 3),
            "max": round(float(frame[column].max()), 3),
        }
        for column in ("features_s", "train_s", "peak_python_mb")
    }


def run_bench(n_tickers: int, n_sessions: int) -> dict:
    from stockcast import sources

    sample = sources.fetch_prices("sample", None).prices
    universe = make_synthetic_universe(sample, n_tickers, n_sessions)
    with tempfile.TemporaryDirectory(prefix="stockcast-bench-") as scratch:
        scratch = Path(scratch)
        demo = run_chain(["demo"], scratch / "demo")
        csv_dir = write_csvs(universe, scratch / "synthetic_csv")
        weekly = run_chain(
            ["weekly", "--source", "csv", "--csv-dir", str(csv_dir)], scratch / "synthetic"
        )
        dates = sample.loc[sample["ticker"] == "AAPL", "date"]
        backfill = run_chain(
            [
                "backfill",
                "--tickers",
                "AAPL,MSFT",
                "--start",
                dates.iloc[-751].date().isoformat(),
                "--end",
                dates.iloc[-2].date().isoformat(),
            ],
            scratch / "backfill",
        )
        backfill["quality"] = backfill_quality(scratch / "backfill")
    synthetic_prices = (
        pd.concat(frame.assign(ticker=ticker) for ticker, frame in universe.items())
        .rename(columns=str.lower)
        .rename(columns={"adj close": "adj_close"})
    )
    synthetic_prices["date"] = pd.to_datetime(synthetic_prices["date"])
    synthetic_prices[["dividends", "stock_splits"]] = 0.0
    per_ticker = measure_tickers(synthetic_prices)
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "demo": demo,
        "synthetic": {
            "label": SYNTHETIC_LABEL,
            "tickers": n_tickers,
            "sessions": n_sessions,
            "chain": weekly,
            "per_ticker": per_ticker,
            "per_ticker_summary": summarize(per_ticker),
        },
        "backfill_750_sessions_2_tickers": backfill,
    }


def to_markdown(bench: dict) -> str:
    """The README's table of the latest figures."""
    lines = ["| run | stage | seconds | peak RSS (MB) |", "|---|---|---:|---:|"]
    for name, chain in (
        ("demo (4 sample tickers)", bench["demo"]),
        (f"weekly, {bench['synthetic']['tickers']} synthetic tickers", bench["synthetic"]["chain"]),
        ("backfill, 750 sessions x 2 tickers", bench["backfill_750_sessions_2_tickers"]),
    ):
        for stage in chain["stages"]:
            lines.append(
                f"| {name} | {stage['stage']} | {stage['seconds']} | {stage['peak_rss_mb']} |"
            )
        lines.append(
            f"| {name} | **whole run** | **{chain['wall_seconds']}** | **{chain['peak_rss_mb']}** |"
        )
    per = bench["synthetic"]["per_ticker_summary"]
    lines.append("")
    lines.append(
        f"Per synthetic ticker (in-process): features median {per['features_s']['median']}"
        f" s, training median {per['train_s']['median']} s (p90 {per['train_s']['p90']}"
        f" s), peak Python allocations median {per['peak_python_mb']['median']} MB."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.bench", description=__doc__)
    parser.add_argument("--tickers", type=int, default=50, help="synthetic universe size")
    parser.add_argument("--sessions", type=int, default=1500, help="sessions per synthetic ticker")
    args = parser.parse_args(argv)
    bench = run_bench(args.tickers, args.sessions)
    target = load_settings().bench_path
    target.write_text(json.dumps(bench, indent=2))
    print(to_markdown(bench))
    print(f"\nwritten to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
