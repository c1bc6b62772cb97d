"""Hyperparameter search per ticker and model: a grid scored by time-series cross-validation.

Scored by the RMSE of the next-session log return on the rows training uses (the last
`train_window` labelled, post-warm-up rows) over the walk-forward folds training uses
(`forecaster.time_folds`), never a shuffled split. Naive has nothing to tune.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import ParameterGrid

from stockcast.errors import NotEnoughHistory
from stockcast.executors import map_tickers
from stockcast.features import FEATURE_COLUMNS
from stockcast.forecaster import time_folds
from stockcast.frames import require_columns
from stockcast.models import make_model
from stockcast.settings import TrainSettings

TUNE_COLUMNS = ("ticker", "date", "warm_up", *FEATURE_COLUMNS, "label")
# Fewer labelled rows than this per fold make the fold RMSE too noisy to rank a grid by.
MIN_ROWS_PER_FOLD = 20
UNTUNED = ("naive",)
# The parameter that counts boosting rounds, for the models whose first n rounds are the n-round
# model: a grid over it is scored from one fit of its largest value (score_grid).
BOOSTING_ROUNDS = {"xgboost": "n_estimators"}


@dataclass
class TuneResult:
    """The grid point with the lowest mean fold RMSE, and every grid point's scores."""

    best_params: dict
    cv_rmse: float
    table: pd.DataFrame


def select_labelled(features_one_ticker: pd.DataFrame, window: int | None = None):
    """(X, y) of the labelled post-warm-up rows, by date, optionally only the last `window`."""
    require_columns(features_one_ticker, TUNE_COLUMNS, "grid_search")
    rows = features_one_ticker.sort_values("date")
    rows = rows[~rows["warm_up"] & rows["label"].notna()]
    rows = rows.tail(window) if window else rows
    return rows[list(FEATURE_COLUMNS)], rows["label"]


def grid_search(
    features_one_ticker: pd.DataFrame,
    model_name: str,
    grid: dict[str, list],
    settings: TrainSettings | None = None,
) -> TuneResult:
    """Score every point of `grid` for `model_name` by mean out-of-fold RMSE; lowest wins. The
    rows and folds are those training uses (settings.train_window, n_splits, test_size, gap)."""
    settings = settings or TrainSettings()
    X, y = select_labelled(features_one_ticker, settings.train_window)
    splitter = time_folds(len(X), settings.n_splits, settings.test_size, settings.gap)
    needed = 2 * settings.n_splits * MIN_ROWS_PER_FOLD
    if len(X) < needed or splitter.test_size < MIN_ROWS_PER_FOLD:
        raise NotEnoughHistory(
            f"only {len(X)} labelled sessions to tune {model_name} on; {needed} are needed for "
            f"{settings.n_splits} folds: ingest more history or lower n_splits"
        )
    splits = list(splitter.split(X))
    rows = score_grid(X, y, model_name, list(ParameterGrid(grid)), splits)
    table = pd.DataFrame(rows).sort_values("cv_rmse", kind="stable").reset_index(drop=True)
    best = table.iloc[0]
    return TuneResult(best_params=dict(best["params"]), cv_rmse=float(best["cv_rmse"]), table=table)


def score_grid(X, y, model_name: str, points: list[dict], splits) -> list[dict]:
    """{"params", "cv_rmse", "cv_rmse_std"} of every grid point, in the order of `points`.

    XGBoost's first n rounds are the n-round model, so the points that differ only in
    n_estimators share one fit per fold of the largest, scored at each n (iteration_range)."""
    rounds = BOOSTING_ROUNDS.get(model_name)
    groups: dict[str, list[int]] = {}  # the other parameters -> positions in `points`
    for position, params in enumerate(points):
        rest = {key: value for key, value in params.items() if key != rounds}
        groups.setdefault(repr(sorted(rest.items())), []).append(position)
    rows = [{}] * len(points)
    for positions in groups.values():
        group = [points[position] for position in positions]
        staged = rounds is not None and rounds in group[0]
        fit_with = {**group[0], rounds: max(p[rounds] for p in group)} if staged else group[0]
        fold_rmse = [[] for _ in group]
        for train_index, test_index in splits:
            model = make_model(model_name, fit_with).fit(X.iloc[train_index], y.iloc[train_index])
            for rmse, params in zip(fold_rmse, group, strict=True):
                at = {"iteration_range": (0, params[rounds])} if staged else {}
                errors = y.iloc[test_index].to_numpy() - model.predict(X.iloc[test_index], **at)
                rmse.append(np.sqrt(np.mean(errors**2)))
        for position, params, rmse in zip(positions, group, fold_rmse, strict=True):
            rows[position] = {
                "params": params,
                "cv_rmse": float(np.mean(rmse)),
                "cv_rmse_std": float(np.std(rmse)),
            }
    return rows


def tune_tickers(
    features: pd.DataFrame,
    grids: dict[str, dict[str, list]],
    tickers=None,
    settings: TrainSettings | None = None,
    executor: str = "serial",
) -> tuple[pd.DataFrame, dict[str, str]]:
    """grid_search per ticker and tunable model. Returns (rows of ticker, model, params, cv_rmse,
    n_rows; failures ticker -> reason); a ticker that fails does not stop the others."""
    require_columns(features, TUNE_COLUMNS, "tune_tickers")
    tickers = list(tickers) if tickers is not None else list(features["ticker"].unique())
    tasks = {
        ticker: (features[features["ticker"] == ticker], ticker, grids, settings)
        for ticker in tickers
    }
    tuned, failures = map_tickers(tune_one, tasks, executor)
    columns = ["ticker", "model", "params", "cv_rmse", "n_rows"]
    rows = [row for ticker_rows in tuned.values() for row in ticker_rows]
    return pd.DataFrame(rows, columns=columns), failures


def tune_one(one: pd.DataFrame, ticker: str, grids: dict, settings=None) -> list[dict]:
    """The best grid point of every tunable model of one ticker."""
    if one.empty:
        raise NotEnoughHistory(f"no rows for {ticker}: ingest it first")
    settings = settings or TrainSettings()
    n_rows = len(select_labelled(one, settings.train_window)[0])
    results = []
    for model_name, grid in grids.items():
        if model_name in UNTUNED:
            continue
        best = grid_search(one, model_name, grid, settings)
        results.append(dict(ticker=ticker, model=model_name, params=best.best_params,
                            cv_rmse=best.cv_rmse, n_rows=n_rows))  # fmt: skip
    return results


def params_as_of(tuned: pd.DataFrame, ticker: str, as_of) -> dict[str, dict]:
    """model -> the newest parameters tuned for `ticker` on or before `as_of` ({} if none).

    `tuned` holds `model_params` rows (ticker, model, tuned_as_of, params); a model never tuned
    in time falls back to its defaults in models.make_model.
    """
    rows = tuned[(tuned["ticker"] == ticker) & (tuned["tuned_as_of"] <= pd.Timestamp(as_of))]
    newest = rows.sort_values("tuned_as_of").groupby("model").tail(1)
    return {row.model: dict(row.params) for row in newest.itertuples()}


def params_by_ticker(tuned: pd.DataFrame, tickers, as_of) -> dict[str, dict[str, dict]]:
    """ticker -> model -> parameters, each the newest tuned on or before `as_of`."""
    return {ticker: params_as_of(tuned, ticker, as_of) for ticker in tickers}
