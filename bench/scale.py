"""Issue 12's scale bench on a SYNTHETIC universe (500 tickers x 1,500 sessions by default),
measure by measure, each one selectable (`--measures`) and saved as soon as it ends:

- `chains`: `weekly` as of the next-to-last session, then `daily` as of the last one, in one
  outputs folder, at the full size and at `small` tickers (the first ones of the same universe):
  wall, seconds and peak memory per stage, seconds per ticker, and the large/small ratio;
- `backfill`: a backfill of the last `backfill_sessions` sessions of the full universe;
- `executors`: the train stage's work (`train.fit_tickers`, in this process, no notebook) on
  every ticker's features with 1 and 2 local processes and on a 2-worker Dask LocalCluster;
- `floor`: the compute floor, each ticker's features, tune, fit and forecast in one process
  with no notebook, MLflow or database, on the first `floor_tickers` tickers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from bench.chains import run_breakdown, run_chain, where_time_goes
from bench.synthetic import SYNTHETIC_LABEL, as_long_prices, write_csvs

MEASURES = ("chains", "executors", "floor", "backfill")
LIMITS = {
    "daily_wall_s": 300.0,
    "weekly_wall_s": 900.0,
    "peak_rss_mb": 4096.0,
    "per_ticker_drift": 0.15,  # |large/small seconds per ticker - 1|, stage by stage
    "train_speedup_1_to_2": 1.6,
    "dask_vs_processes": 1.25,
}
WORKER_COUNTS = (1, 2)


def load_average() -> list[float]:
    """The 1, 5 and 15-minute load averages, recorded beside every timing (a shared machine)."""
    import os

    return [round(value, 2) for value in os.getloadavg()]


def session_dates(universe: dict[str, pd.DataFrame]) -> list[str]:
    """The sessions every synthetic ticker shares (they all carry the same dates)."""
    return list(next(iter(universe.values()))["Date"])


def csv_args(csv_dir: Path) -> list[str]:
    return ["--source", "csv", "--csv-dir", str(csv_dir)]


def per_ticker_seconds(chain: dict, n_tickers: int) -> dict[str, float]:
    """Each stage's seconds divided by the tickers it ran over."""
    return {s["stage"]: round(s["seconds"] / n_tickers, 4) for s in chain["stages"]}


def add_breakdown(chain: dict, outputs: Path) -> dict:
    """The chain with where each executed notebook's time went (chains.where_time_goes)."""
    cells = run_breakdown(outputs / "runs" / chain["run_id"])
    return {**chain, "notebooks": {name: where_time_goes(c) for name, c in cells.items()}}


def measure_chain_pair(csv_dir: Path, dates: list[str], n_tickers: int, outputs: Path) -> dict:
    """`weekly` as of the next-to-last session, then `daily` as of the last (one outputs folder,
    so the daily run finds the weekly's tuned parameters and champions)."""
    pair = {"tickers": n_tickers}
    for kind, as_of in (("weekly", dates[-2]), ("daily", dates[-1])):
        chain = add_breakdown(
            run_chain([kind, *csv_args(csv_dir), "--as-of", as_of], outputs), outputs
        )
        chain["per_ticker_s"] = per_ticker_seconds(chain, n_tickers)
        pair[kind] = {**chain, "load_average": load_average()}
    return pair


def per_ticker_ratios(small: dict, large: dict) -> dict[str, dict[str, float]]:
    """kind -> stage -> large/small seconds per ticker (1.0: the cost per ticker is flat)."""
    ratios = {}
    for kind in ("weekly", "daily"):
        small_cost, large_cost = small[kind]["per_ticker_s"], large[kind]["per_ticker_s"]
        ratios[kind] = {
            stage: round(large_cost[stage] / small_cost[stage], 3)
            for stage in large_cost
            if small_cost.get(stage)
        }
    return ratios


def fixed_and_marginal(small: dict, large: dict) -> dict[str, dict[str, dict]]:
    """kind -> stage -> a stage's fixed seconds and its marginal seconds per ticker, from the two
    sizes (seconds = fixed + marginal x tickers): what makes a small run's cost per ticker high."""
    n_small, n_large = small["tickers"], large["tickers"]
    split = {}
    for kind in ("weekly", "daily"):
        small_s = {s["stage"]: s["seconds"] for s in small[kind]["stages"]}
        split[kind] = {}
        for stage in large[kind]["stages"]:
            if stage["stage"] not in small_s:
                continue
            marginal = (stage["seconds"] - small_s[stage["stage"]]) / (n_large - n_small)
            fixed = stage["seconds"] - marginal * n_large
            split[kind][stage["stage"]] = {
                "fixed_s": round(fixed, 2),
                "marginal_s": round(marginal, 4),
            }
    return split


def measure_chains(csv_dirs: dict[int, Path], dates: list[str], scratch: Path) -> dict:
    """The weekly+daily pair at each size (largest first), and how the cost per ticker moves."""
    large_n, small_n = max(csv_dirs), min(csv_dirs)
    pairs = {
        n: measure_chain_pair(csv_dirs[n], dates, n, scratch / f"chains_{n}")
        for n in sorted(csv_dirs, reverse=True)
    }
    return {
        "large": pairs[large_n],
        "small": pairs[small_n],
        "per_ticker_ratio": per_ticker_ratios(pairs[small_n], pairs[large_n]),
        "fixed_and_marginal": fixed_and_marginal(pairs[small_n], pairs[large_n]),
    }


def measure_backfill(csv_dir: Path, dates: list[str], sessions: int, n_tickers: int, scratch):
    """A backfill of the universe over its last `sessions` as-of sessions but one (the last
    session's outcome is not known yet)."""
    start, end = dates[-sessions - 1], dates[-2]
    args = ["backfill", *csv_args(csv_dir), "--start", start, "--end", end]
    chain = add_breakdown(run_chain(args, scratch / "backfill"), scratch / "backfill")
    chain["per_ticker_s"] = per_ticker_seconds(chain, n_tickers)
    return {"sessions": sessions, "tickers": n_tickers, **chain, "load_average": load_average()}


def time_fit(features: pd.DataFrame, executor) -> dict:
    """Seconds of `train.fit_tickers` over every ticker on `executor`, its workers started and
    warmed (imports) first on a few tickers, timed apart: the compute that scales with workers,
    and the start-up a stage pays once. With the load average when it ended."""
    from stockcast import train

    warm_tickers = features["ticker"].drop_duplicates().iloc[: 2 * executor.size]
    clock = time.perf_counter()
    train.fit_tickers(features[features["ticker"].isin(warm_tickers)], None, None, executor)
    warm_up = time.perf_counter() - clock
    clock = time.perf_counter()
    trained, failures = train.fit_tickers(features, None, train.TrainSettings(), executor)
    seconds = time.perf_counter() - clock
    return {
        "executor": executor.describe(),
        "warm_up_s": round(warm_up, 1),
        "seconds": round(seconds, 1),
        "trained": len(trained),
        "failed": len(failures),
        "load_average": load_average(),
    }


def close_dask(workers: int) -> None:
    """Shut the LocalCluster of `workers` that the dask executor made (and cached) here."""
    from stockcast import cluster

    client = cluster.dask_client(None, workers)
    local = client.cluster
    client.close()
    local.close()
    cluster.dask_client.cache_clear()


def measure_executors(features: pd.DataFrame) -> dict:
    """The train stage's work (`fit_tickers`, in process) with 1 and 2 local processes and on a
    2-worker Dask LocalCluster; speedup 1 -> 2 workers and dask / processes."""
    from stockcast.executors import Executor

    runs = {f"processes_{n}": time_fit(features, Executor("processes", n)) for n in WORKER_COUNTS}
    runs["dask_2"] = time_fit(features, Executor("dask", 2))
    close_dask(2)
    one, two = runs["processes_1"]["seconds"], runs["processes_2"]["seconds"]
    return {
        "how": "train.fit_tickers in one process on every ticker's features (no notebook, MLflow "
        "or database), workers started and warmed first (warm_up_s, not in seconds)",
        "tickers": int(features["ticker"].nunique()),
        "runs": runs,
        "speedup_1_to_2": round(one / two, 3),
        "dask_vs_processes": round(runs["dask_2"]["seconds"] / two, 3),
    }


def timed(step: Callable, *args):
    """(step's result, its seconds)."""
    clock = time.perf_counter()
    result = step(*args)
    return result, time.perf_counter() - clock


def time_one_ticker(table: pd.DataFrame, grids: dict, pooled) -> dict:
    """Seconds of tune, fit and forecast of one ticker's features, one process, no notebook,
    MLflow or DB; `pooled` is the ticker's slice of the pooled fits (or None)."""
    from stockcast import train, tune

    ticker = str(table["ticker"].iloc[0])
    tuned, tune_s = timed(tune.tune_one, table, ticker, grids)
    params = {row["model"]: row["params"] for row in tuned}
    trained, fit_s = timed(train.fit_ticker, table, params, train.TrainSettings(), pooled)
    last = table[table["date"] == trained.as_of_date]
    _, forecast_s = timed(train.forecast_next, trained, last)
    return {"ticker": ticker, "tune_s": tune_s, "fit_s": fit_s, "forecast_s": forecast_s}


def measure_floor(prices: pd.DataFrame, grids: dict, n_tickers: int) -> dict:
    """The compute floor per ticker (mean over the first `n_tickers`, after one warm-up ticker
    pays the imports): features, the pooled fits (once for the `n_tickers`, shared out), tune,
    fit and forecast for a weekly run; the same without tune for a daily run."""
    from stockcast import features, pooled, train

    groups = [one for _, one in prices.groupby("ticker", sort=True)][: n_tickers + 1]
    timings = [timed(features.make_features, one) for one in groups]
    tables = [table for table, _ in timings]
    time_one_ticker(tables[0], grids, None)  # warm-up: pandas-ta and xgboost imports
    tables, features_s = tables[1:], [seconds for _, seconds in timings[1:]]
    every = pd.concat(tables, ignore_index=True)
    as_of = every.groupby("ticker")["date"].max()
    fits, pooled_s = timed(pooled.fit_pooled, every, as_of.unique(), train.TrainSettings())
    rows = pd.DataFrame(
        [
            time_one_ticker(table, grids, fits and fits.for_ticker(ticker, [as_of[ticker]]))
            for table, ticker in zip(tables, as_of.index, strict=True)
        ]
    ).assign(features_s=features_s, pooled_s=pooled_s / len(tables))
    mean = rows.drop(columns="ticker").mean()
    return {
        "tickers": len(rows),
        "mean_s": {name: round(float(s), 4) for name, s in mean.items()},
        "weekly_s_per_ticker": round(float(mean.sum()), 4),
        "daily_s_per_ticker": round(float(mean.sum() - mean["tune_s"]), 4),
        "load_average": load_average(),
    }


def attempt(measure: Callable[[], dict]) -> dict:
    """A measure's figures, or its error (a failed run's last log lines): the measures after it
    still run, and what was measured before it is kept."""
    try:
        return measure()
    except RuntimeError as error:
        return {"error": str(error)[-2000:], "load_average": load_average()}


def measure_scale(
    universe: dict[str, pd.DataFrame],
    scratch: Path,
    measures: list[str],
    options: dict,
    save: Callable[[dict], None],
) -> dict:
    """Every chosen measure on `universe`, each handed to `save` (name -> figures) as it ends.
    `options`: small (tickers of the small chains), backfill_sessions, floor_tickers, grids."""
    from stockcast.features import make_features  # every ticker's table, as 02_features makes it

    tickers = sorted(universe)
    dates = session_dates(universe)
    csv_dir = write_csvs(universe, scratch / "scale_csv")
    measured = {"label": SYNTHETIC_LABEL, "tickers": len(tickers), "sessions": len(dates)}
    save(measured)
    prices = as_long_prices(universe)
    small = {t: universe[t] for t in tickers[: options["small"]]}
    runs = {
        "chains": lambda: measure_chains(
            {len(tickers): csv_dir, len(small): write_csvs(small, scratch / "small_csv")},
            dates,
            scratch,
        ),
        "executors": lambda: measure_executors(make_features(prices)),
        "floor": lambda: measure_floor(prices, options["grids"], options["floor_tickers"]),
        "backfill": lambda: measure_backfill(
            csv_dir, dates, options["backfill_sessions"], len(tickers), scratch
        ),
    }
    for name in MEASURES:  # in this order: the longest, the backfill, last
        if name in measures:
            measured[name] = attempt(runs[name])
            save(measured)
    return measured
