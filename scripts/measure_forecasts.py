"""Measure what issue 11 asks of the forecasts, by walk-forward backfill (`backfill.replay`).

serving    served RMSE / naive's on synthetic AR(1) returns (phi 0.2 and 0) and on the sample,
           for several blend shrinkages c (one replay per series; the blends are recomputed
           from each retrain's out-of-sample record, the models are fitted once)
intervals  per interval method: coverage overall and by calendar year, mean width and mean
           Winkler score (% of the as-of close) of the served forecast, beside a GARCH(1,1)
           Student-t refitted every 20 sessions on the same targets
pooled     per ticker, each candidate's and the served forecast's RMSE / naive's (in returns and
           in close prices) with the pooled candidate and without it, and the cross-sectional
           IC / RankIC of every candidate (every session with all the tickers)

  .venv/bin/python scripts/measure_forecasts.py serving --shrinkage 0,1,2,4,9
  .venv/bin/python scripts/measure_forecasts.py intervals --start 2010-03-01 --end 2013-02-27
  .venv/bin/python scripts/measure_forecasts.py pooled --start 2010-03-01 --end 2013-02-27
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from synthetic import make_prices  # noqa: E402

from stockcast import skill  # noqa: E402
from stockcast.backfill import replay  # noqa: E402
from stockcast.blend import choose_blend  # noqa: E402
from stockcast.config import CANDIDATES  # noqa: E402
from stockcast.evaluate import add_as_of_close, score_predictions  # noqa: E402
from stockcast.features import make_features  # noqa: E402
from stockcast.forecaster import INTERVAL_METHODS  # noqa: E402
from stockcast.pooled import POOLED  # noqa: E402
from stockcast.predict import to_price_rows  # noqa: E402
from stockcast.settings import TrainSettings  # noqa: E402
from stockcast.sources import fetch_prices  # noqa: E402
from stockcast.train import fit_ticker  # noqa: E402
from stockcast.volatility import garch_t_bounds  # noqa: E402

KEYS = ["ticker", "target_date", "model"]
CACHE = []  # (ticker, out-of-sample record, block predictions, outcomes) per retrain


def sweep_shrinkage(features: pd.DataFrame, start, end, shrinkages, settings: TrainSettings):
    """Per shrinkage c: squared errors of the served blend and of each candidate, in return
    space, over the as-of sessions start..end (retraining every settings.retrain_every)."""
    rows = features.sort_values("date").reset_index(drop=True)
    as_of = rows.loc[rows["date"].between(start, end), "date"]
    # One ticker at a time: no pooled candidate (it needs the run's other tickers).
    candidates = [name for name in settings.candidates if name != POOLED]
    challengers = [name for name in candidates if name != "naive"]
    errors = []
    for first in range(0, len(as_of), settings.retrain_every):
        block = as_of.iloc[first : first + settings.retrain_every]
        trained = fit_ticker(rows[rows["date"] <= block.iloc[0]], None, settings)
        block_rows = rows[rows["date"].isin(block)]
        truth = block_rows["label"].to_numpy()
        preds = {
            name: trained.forecasters[name].predict(block_rows)["pred_return"].to_numpy()
            for name in candidates
        }
        CACHE.append((features["ticker"].iloc[0], trained.oos, preds, truth))
        part = {f"{name}": (truth - pred) ** 2 for name, pred in preds.items()}
        for c in shrinkages:
            choice = choose_blend(trained.oos, challengers, c)
            served = choice.weight * preds[choice.challenger] if choice.weight > 0 else 0.0
            part[f"served c={c:g}"] = (truth - served) ** 2
            part[f"w c={c:g}"] = np.full(len(truth), choice.weight)
        errors.append(pd.DataFrame(part).dropna())
    return pd.concat(errors, ignore_index=True)


def ratios(errors: pd.DataFrame) -> dict:
    naive = np.sqrt(errors["naive"].mean())
    table = {c: np.sqrt(errors[c].mean()) / naive for c in errors if c != "naive" and c[:2] != "w "}
    table.update(
        {c.replace("w ", "naive share "): (errors[c] == 0).mean() for c in errors if c[:2] == "w "}
    )
    return table


def measure_serving(args) -> None:
    shrinkages = [float(c) for c in args.shrinkage.split(",")]
    settings = TrainSettings()
    results = {}
    for phi in (0.2, 0.0):
        for seed in range(args.seeds):
            n = 60 + settings.train_window + 40 + args.sessions + 1
            features = make_features(make_prices(n, f"AR{phi:g}-{seed}", seed=seed, phi=phi))
            days = features["date"]
            start, end = days.iloc[n - args.sessions - 1], days.iloc[n - 2]
            errors = sweep_shrinkage(features, start, end, shrinkages, settings)
            results[f"AR phi={phi} seed={seed}"] = ratios(errors)
            print(f"phi={phi} seed={seed}: {len(errors)} sessions", file=sys.stderr)
    prices = fetch_prices("sample", args.tickers.split(",")).prices
    features = make_features(prices)
    for ticker, rows in features.groupby("ticker"):
        errors = sweep_shrinkage(rows, args.start, args.end, shrinkages, settings)
        results[f"{ticker} {args.start}..{args.end}"] = ratios(errors)
        print(f"{ticker}: {len(errors)} sessions", file=sys.stderr)
    if args.cache:
        pd.to_pickle(CACHE, args.cache)
    table = pd.DataFrame(results).T
    with pd.option_context("display.width", 250, "display.max_columns", 50):
        print(table.round(4).to_string())


def replay_history(features, prices, start, end, settings: TrainSettings) -> pd.DataFrame:
    """Replay, then every forecast scored with its bounds and as-of close (skill's input)."""
    forecasts, failures = replay(features, None, start, end, settings)
    if failures:
        raise SystemExit(f"replay failed: {failures}")
    preds = to_price_rows(forecasts, prices)
    evals = score_predictions(preds, prices)
    history = evals.merge(preds[[*KEYS, "as_of_date", "is_champion"]], on=KEYS)
    return add_as_of_close(
        history.merge(preds[[*KEYS, "pred_lower", "pred_upper"]], on=KEYS), prices
    )


def garch_history(prices: pd.DataFrame, served: pd.DataFrame, level: float) -> pd.DataFrame:
    """The GARCH-t reference around zero (naive's point) for the served rows' targets."""
    parts = []
    for ticker, rows in prices.groupby("ticker"):
        adj = rows.set_index("date")["adj_close"]
        returns = np.log(adj).diff()
        mine = served[served["ticker"] == ticker]
        bounds = garch_t_bounds(returns, mine["as_of_date"], level).set_index("as_of_date")
        close = mine["as_of_close"].to_numpy()
        parts.append(
            mine.assign(
                model="garch_t",
                pred_lower=close
                * np.exp(bounds.loc[mine["as_of_date"], "lower_return"].to_numpy()),
                pred_upper=close
                * np.exp(bounds.loc[mine["as_of_date"], "upper_return"].to_numpy()),
                is_champion=False,
            )
        )
    return pd.concat(parts, ignore_index=True)


def measure_intervals(args) -> None:
    prices = fetch_prices("sample", args.tickers.split(",")).prices
    features = make_features(prices)
    served, level = [], TrainSettings().interval_level
    methods = args.methods.split(",") if args.methods else list(INTERVAL_METHODS)
    for method in methods:
        began = time.time()
        saved = Path(args.save_dir) / f"served_{method}_{args.start}_{args.end}.parquet"
        if args.save_dir and saved.exists():
            served.append(pd.read_parquet(saved))
            continue
        settings = replace(TrainSettings(), interval_method=method)
        history = replay_history(features, prices, args.start, args.end, settings)
        champion = history[history["is_champion"].astype(bool)].assign(model=method)
        if args.save_dir:
            champion.to_parquet(saved)
        served.append(champion)
        print(
            f"{method}: {len(champion)} served rows in {time.time() - began:.0f} s", file=sys.stderr
        )
    served.append(garch_history(prices, served[0], level))
    report_intervals(pd.concat(served, ignore_index=True).assign(is_champion=False), level)


def report_intervals(rows: pd.DataFrame, level: float) -> None:
    """method x coverage overall and by year x mean width x mean Winkler, all tickers pooled,
    then the Winkler score per ticker."""
    pooled = rows.assign(ticker="all")
    overall = skill.score_intervals(pooled, level).set_index("model")
    by_year = skill.coverage_by_year(pooled).droplevel("ticker")
    table = overall[["n", "coverage", "width_pct", "winkler_pct"]].join(by_year)
    per_ticker = skill.score_intervals(rows, level).pivot(
        index="model", columns="ticker", values="winkler_pct"
    )
    with pd.option_context("display.width", 250, "display.max_columns", 50):
        print(table.sort_values("winkler_pct").round(4).to_string())
        print("\nmean Winkler (% of close) per ticker")
        print(per_ticker.loc[table.sort_values("winkler_pct").index].round(3).to_string())


def rmse_ratios(history: pd.DataFrame) -> pd.DataFrame:
    """Per ticker and model (the served one as `served`): RMSE / naive's of the log return
    (log true / predicted close) and of the close price."""
    served = history[history["is_champion"].astype(bool)].assign(model="served")
    rows = pd.concat([history, served], ignore_index=True)
    rows = rows.assign(
        returns=np.log(rows["true_close"] / rows["pred_close"]) ** 2,
        price=(rows["true_close"] - rows["pred_close"]) ** 2,
    )
    rmse = rows.groupby(["ticker", "model"])[["returns", "price"]].mean() ** 0.5
    naive = rmse.xs("naive", level="model")
    return (rmse / naive.reindex(rmse.index, level="ticker")).drop(index="naive", level="model")


def measure_pooled(args) -> None:
    prices = fetch_prices("sample", args.tickers.split(",")).prices
    features = make_features(prices)
    without = replace(TrainSettings(), candidates=tuple(c for c in CANDIDATES if c != POOLED))
    tables, histories = {}, {}
    for name, settings in (("without pooled", without), ("with pooled", TrainSettings())):
        began = time.time()
        histories[name] = replay_history(features, prices, args.start, args.end, settings)
        tables[name] = rmse_ratios(histories[name])
        print(f"{name}: replayed in {time.time() - began:.0f} s", file=sys.stderr)
    table = pd.concat(tables, axis=1).unstack("model")
    history = histories["with pooled"]
    ic = skill.cross_sectional_ic(history, min_tickers=history["ticker"].nunique())
    with pd.option_context("display.width", 250, "display.max_columns", 50):
        print(table.round(4).T.to_string())
        print(ic.round(4).to_string(index=False))


def main() -> None:
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("serving", "intervals", "pooled"))
    parser.add_argument("--tickers", default="AAPL,GOOG,IBM,MSFT")
    parser.add_argument("--start", default="2010-03-01")
    parser.add_argument("--end", default="2013-02-27")
    parser.add_argument("--shrinkage", default="0,1,2,4,9")
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--methods", default="")
    parser.add_argument("--save-dir", default="", help="intervals: keep each method's rows here")
    parser.add_argument("--cache", default="", help="serving: pickle every retrain's record here")
    args = parser.parse_args()
    measures = {
        "serving": measure_serving,
        "intervals": measure_intervals,
        "pooled": measure_pooled,
    }
    measures[args.what](args)


if __name__ == "__main__":
    main()
