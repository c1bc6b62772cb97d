"""The backfill: one walk-forward simulation of what daily runs would have forecast.

For each ticker and past as-of session, models are retrained (in memory, nothing registered)
every `retrain_every` sessions on the rows up to that date, with the parameters tuned on or before
it; each session in between is forecast from its own features by the latest models.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from stockcast.errors import NotEnoughHistory
from stockcast.executors import map_tickers
from stockcast.frames import require_columns
from stockcast.pooled import PooledTicker, fit_pooled
from stockcast.predict import FORECAST_COLUMNS
from stockcast.settings import TrainSettings
from stockcast.train import TRAIN_COLUMNS, fit_ticker, forecast_next


def replay(
    features: pd.DataFrame,
    params_at: Callable[[str, pd.Timestamp], dict[str, dict]] | None,
    start,
    end,
    settings: TrainSettings | None = None,
    executor: str = "serial",
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Walk-forward backfill: per ticker and as-of session in [start, end], the forecasts a daily
    run retraining every `settings.retrain_every` sessions would have made. Returns (forecasts
    with FORECAST_COLUMNS + trained_as_of + served_weight, each model's share in the served
    forecast, failures ticker -> reason). The pooled candidate is fitted once, here, at every
    ticker's retrain dates, and each task gets its own slice."""
    require_columns(features, TRAIN_COLUMNS, "replay")
    settings = settings or TrainSettings()
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    by_ticker = dict(tuple(features.groupby("ticker", sort=False)))
    retrains = {
        ticker: retrain_dates(rows, start, end, settings.retrain_every)
        for ticker, rows in by_ticker.items()
    }
    anchors = sorted(set().union(*retrains.values()))
    pooled = fit_pooled(features, anchors, settings) if anchors else None
    tasks = {
        ticker: (
            rows,
            params_at,
            start,
            end,
            settings,
            pooled.for_ticker(ticker, retrains[ticker]) if pooled else None,
        )
        for ticker, rows in by_ticker.items()
    }
    replayed, failures = map_tickers(replay_ticker, tasks, executor)
    if not replayed:
        return pd.DataFrame(columns=[*FORECAST_COLUMNS, "trained_as_of", "served_weight"]), failures
    return pd.concat(replayed.values(), ignore_index=True), failures


def retrain_blocks(rows: pd.DataFrame, start, end, every: int) -> list[pd.Series]:
    """One ticker's as-of sessions from start to end in blocks of `every`; each block is
    forecast by models trained as of its first session, its retrain date."""
    as_of_dates = rows.loc[rows["date"].between(start, end), "date"].sort_values()
    return [as_of_dates.iloc[first : first + every] for first in range(0, len(as_of_dates), every)]


def retrain_dates(rows: pd.DataFrame, start, end, every: int) -> list[pd.Timestamp]:
    """One ticker's retrain dates: every `every`-th of its sessions from start to end."""
    return [block.iloc[0] for block in retrain_blocks(rows, start, end, every)]


def replay_ticker(
    rows, params_at, start, end, settings: TrainSettings, pooled: PooledTicker | None = None
) -> pd.DataFrame:
    """One ticker's replay: each block of as-of dates uses models trained as of its first date."""
    rows = rows.sort_values("date").reset_index(drop=True)
    blocks = retrain_blocks(rows, start, end, settings.retrain_every)
    if not blocks:
        raise NotEnoughHistory(
            f"{rows['ticker'].iloc[0]} has no sessions from {start.date()} to {end.date()}: "
            "ingest them or narrow the range"
        )
    parts = []
    for block in blocks:
        trained_as_of = block.iloc[0]
        params = params_at(rows["ticker"].iloc[0], trained_as_of) if params_at else None
        # Only rows up to the training date; fit_ticker masks that date's own label.
        trained = fit_ticker(rows[rows["date"] <= trained_as_of], params, settings, pooled)
        # Later as-of rows of the block are predicted by this older model from their own
        # features, which look only backwards: what the daily run on each date would have done.
        forecasts = forecast_next(trained, rows[rows["date"].isin(block)])
        weights = forecasts["model"].map(trained.scores.set_index("model")["weight"])
        parts.append(forecasts.assign(trained_as_of=trained_as_of, served_weight=weights))
    return pd.concat(parts, ignore_index=True)


def summarize_replay(forecasts: pd.DataFrame) -> pd.DataFrame:
    """Per ticker: as-of sessions replayed, retrains, how often each model was served and the
    mean weight of naive in what was served (1: naive all along)."""
    champions = forecasts[forecasts["is_champion"].astype(bool)]
    served = pd.crosstab(champions["ticker"], champions["model"], normalize="index")
    counts = champions.groupby("ticker").agg(
        first_as_of=("as_of_date", "min"),
        last_as_of=("as_of_date", "max"),
        sessions=("as_of_date", "nunique"),
        retrains=("trained_as_of", "nunique"),
    )
    naive = forecasts[forecasts["model"] == "naive"]
    naive_weight = naive.groupby("ticker")["served_weight"].mean().rename("naive_weight")
    return counts.join(served.add_prefix("served_").round(3)).join(naive_weight.round(3))
