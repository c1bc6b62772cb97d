"""One ticker's train as of a date: walk-forward out-of-sample predictions of every candidate,
what is served (serve.py: scores, the blend or an all-or-nothing rule), and the fitted forecasters
with their intervals (forecaster.py). The backfill replay built on `fit_ticker` is backfill.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stockcast.executors import map_tickers
from stockcast.features import FEATURE_COLUMNS
from stockcast.forecaster import IntervalForecaster, scale_of, time_folds, walk_forward
from stockcast.frames import require_columns
from stockcast.models import NaiveForecast, make_model
from stockcast.pooled import POOLED, PooledTicker, add_pooled, fit_pooled
from stockcast.predict import FORECAST_COLUMNS
from stockcast.serve import (  # noqa: F401 (the scoring and serve rules, imported from here)
    diebold_mariano,
    score_candidates,
    select_champion,
    serve,
)
from stockcast.settings import TrainSettings

TRAIN_COLUMNS = ("ticker", "date", "warm_up", *FEATURE_COLUMNS, "label")


@dataclass
class TrainedTicker:
    """Every candidate of one ticker fitted as of one date, with the champion and why."""

    ticker: str
    as_of_date: pd.Timestamp
    champion: str
    reason: str
    scores: pd.DataFrame
    forecasters: dict[str, IntervalForecaster]
    n_train: int
    naive_only: bool = False
    oos: pd.DataFrame | None = None


def prepare_rows(features_one_ticker: pd.DataFrame) -> pd.DataFrame:
    """One ticker's rows sorted by date, with the as-of (last) row's label masked: its outcome
    is the next session's close, not known at the as-of date."""
    require_columns(features_one_ticker, TRAIN_COLUMNS, "fit_ticker")
    if features_one_ticker["ticker"].nunique() != 1:
        raise ValueError("fit_ticker needs the rows of exactly one ticker")
    rows = features_one_ticker.sort_values("date").reset_index(drop=True)
    rows.loc[rows.index[-1], "label"] = np.nan
    return rows


def fit_ticker(
    features_one_ticker: pd.DataFrame,
    params: dict[str, dict] | None = None,
    settings: TrainSettings | None = None,
    pooled: PooledTicker | None = None,
) -> TrainedTicker:
    """Score, select and fit every candidate of one ticker as of its last row (the as-of row).

    Trains on the last `train_window` labelled post-warm-up rows before the as-of date: walk-
    forward out-of-sample scores pick the champion by the serve rule and give each candidate
    its interval, then every candidate is refitted on the whole window. Fewer than
    `min_train_rows` such rows: naive only, flagged `naive_only`, nothing raised.
    With `pooled` (pooled.py), the pooled candidate joins: fitted across tickers already, its
    walk-forward column is its own out-of-sample record at the same dates.
    """
    settings = settings or TrainSettings()
    rows = prepare_rows(features_one_ticker)
    ticker, as_of_date = str(rows["ticker"].iloc[0]), rows["date"].iloc[-1]
    labelled = rows[~rows["warm_up"] & rows["label"].notna()].tail(settings.train_window)
    X = labelled.set_index("date")[list(FEATURE_COLUMNS)]
    y = labelled.set_index("date")["label"]
    if len(labelled) < settings.min_train_rows:
        # Naive needs no features: its interval may use the warm-up rows' returns too.
        known = rows[rows["label"].notna()].tail(settings.train_window)
        return fit_naive_only(ticker, as_of_date, X, y, known, settings)
    per_ticker = [name for name in settings.candidates if name != POOLED]
    estimators = {name: make_model(name, (params or {}).get(name)) for name in per_ticker}
    splitter = time_folds(len(X), settings.n_splits, settings.test_size, settings.gap)
    oos = walk_forward(X, y, estimators, splitter)
    oos, estimators = add_pooled(oos, estimators, pooled, as_of_date)
    oos, estimators, scores, champion, reason = serve(oos, estimators, settings.serve_rule)
    scales = scales_at(labelled, oos["date"], settings)
    forecasters = {
        name: IntervalForecaster(
            estimator, settings.interval_level, scale_of(settings.interval_method)
        ).fit(X, y, oos["y_true"] - oos[name], scales)
        for name, estimator in estimators.items()
    }
    return TrainedTicker(ticker, as_of_date, champion, reason, scores, forecasters, len(X), oos=oos)


def scales_at(rows: pd.DataFrame, dates, settings: TrainSettings):
    """The interval method's scale column at `dates` (each residual's as-of row); None for split."""
    column = scale_of(settings.interval_method)
    return None if column is None else rows.set_index("date").loc[dates, column].to_numpy()


def fit_naive_only(ticker, as_of_date, X, y, known, settings: TrainSettings) -> TrainedTicker:
    """Too little history: naive alone, its interval from the realized returns (its residuals)
    of the `known` rows (labelled, warm-up included)."""
    oos = pd.DataFrame({"date": X.index, "fold": 0, "y_true": y.to_numpy(), "naive": 0.0})
    reason = f"only {len(X)} labelled sessions (need {settings.min_train_rows}): serving naive"
    naive = IntervalForecaster(
        NaiveForecast(), settings.interval_level, scale_of(settings.interval_method)
    ).fit(X, y, known["label"], scales_at(known, known["date"], settings))
    scores = score_candidates(oos).assign(weight=1.0)
    return TrainedTicker(
        ticker, as_of_date, "naive", reason, scores, {"naive": naive}, len(X), True, oos
    )


def forecast_next(trained: TrainedTicker, rows: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """Per feature row and candidate: FORECAST_COLUMNS. A row's forecast is for the session
    after its date."""
    rows = rows.to_frame().T if isinstance(rows, pd.Series) else rows
    require_columns(rows, ("date", *FEATURE_COLUMNS), "forecast_next")
    parts = [
        forecaster.predict(rows).assign(
            ticker=trained.ticker,
            as_of_date=pd.to_datetime(rows["date"]).to_numpy(),
            model=name,
            is_champion=name == trained.champion,
        )
        for name, forecaster in trained.forecasters.items()
    ]
    forecasts = pd.concat(parts, ignore_index=True)[list(FORECAST_COLUMNS)]
    return forecasts.sort_values(["as_of_date", "model"], kind="stable", ignore_index=True)


def fit_tickers(
    features: pd.DataFrame,
    params: dict[str, dict[str, dict]] | None = None,
    settings: TrainSettings | None = None,
    executor: str = "serial",
    then: Callable[[str, TrainedTicker], None] | None = None,
) -> tuple[dict[str, TrainedTicker], dict[str, str]]:
    """fit_ticker for every ticker in `features` (params: ticker -> model -> params), each as of
    its last date; a ticker that fails is recorded in the failures (ticker -> reason) and the
    others go on. The pooled candidate is fitted once, here, and each task gets its own slice.
    `then(ticker, trained)` runs here on each fit as it arrives (tracking.TrainingLog)."""
    settings = settings or TrainSettings()
    as_of = features.groupby("ticker", sort=False)["date"].max()
    pooled = fit_pooled(features, as_of.unique(), settings)
    tasks = {
        ticker: (
            rows,
            (params or {}).get(ticker),
            settings,
            pooled.for_ticker(ticker, [as_of[ticker]]) if pooled else None,
        )
        for ticker, rows in features.groupby("ticker", sort=False)
    }
    return map_tickers(fit_ticker, tasks, executor, then=then)


def forecast_tickers(
    trained: dict[str, TrainedTicker],
    features: pd.DataFrame,
    versions: dict[str, str | None] | None = None,
) -> pd.DataFrame:
    """forecast_next of each trained ticker from its as-of row in `features`: the hand-off to
    05_predict. With `versions` (ticker -> registered version of its champion), only those
    tickers, and the champion rows record their version in `model_version`."""
    parts = []
    for ticker, fitted in trained.items():
        if versions is not None and ticker not in versions:
            continue
        rows = features[(features["ticker"] == ticker) & (features["date"] == fitted.as_of_date)]
        version = (versions or {}).get(ticker)
        forecasts = forecast_next(fitted, rows)
        champion = forecasts["is_champion"].astype(bool)
        parts.append(forecasts.assign(model_version=[version if c else None for c in champion]))
    if not parts:
        return pd.DataFrame(columns=[*FORECAST_COLUMNS, "model_version"])
    return pd.concat(parts, ignore_index=True)


def naive_only_notes(trained: dict[str, TrainedTicker]) -> dict[str, str]:
    """ticker -> why only naive was trained, for the tickers with too little history."""
    return {ticker: fitted.reason for ticker, fitted in trained.items() if fitted.naive_only}


def scores_table(trained: dict[str, TrainedTicker]) -> pd.DataFrame:
    """Every ticker's out-of-sample candidate scores, with the champion marked."""
    parts = [
        fitted.scores.assign(ticker=ticker, champion=fitted.scores["model"] == fitted.champion)
        for ticker, fitted in trained.items()
    ]
    if not parts:
        return pd.DataFrame()
    table = pd.concat(parts, ignore_index=True)
    return table.set_index(["ticker", "model"])
