"""The pooled candidate: one ridge fitted on the rows of every ticker of the run, which it can
share because every feature is unit-free (returns, ratios, RSI, volatilities, MACD and ATR over
the close). Many tickers give it many more rows per session of history than any ticker alone.

It is refitted on a schedule of sessions of the union calendar: the anchors (the as-of date live,
each ticker's retrain dates in the backfill) and every `retrain_every` sessions back from the
first anchor, far enough (`oos_span`: the walk-forward's test blocks and one retrain interval)
to cover every walk-forward test date a ticker's train needs. A refit at date r learns from the
rows whose label was known at r (the label's session on or before r) in the last `train_window`
sessions, and predicts every row dated from r to the next refit: `pooled_oos`, out of sample at
each row's own date. Rows before the first refit, or after a refit with too few rows
(`min_train_rows`), get naive's zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.frozen import FrozenEstimator

from stockcast.features import FEATURE_COLUMNS
from stockcast.models import make_model
from stockcast.settings import TrainSettings

POOLED = "pooled"


@dataclass(frozen=True)
class PooledTicker:
    """What one ticker's train needs of the pooled fits: `oos`, its out-of-sample pooled
    predictions by date, and `models`, the pooled model fitted at each of its training dates."""

    oos: pd.Series
    models: dict[pd.Timestamp, BaseEstimator]


@dataclass(frozen=True)
class PooledFits:
    """Every refit's model by date (None: too few rows) and `oos` (ticker, date, pooled_oos)."""

    models: dict[pd.Timestamp, BaseEstimator | None]
    oos: pd.DataFrame

    @cached_property
    def oos_by_ticker(self) -> dict[str, pd.Series]:
        """Each ticker's pooled_oos by date, split once (a scan of `oos` per ticker took 2.8 s
        of a 500-ticker stage)."""
        return {
            ticker: rows.set_index("date")["pooled_oos"]
            for ticker, rows in self.oos.groupby("ticker", sort=False)
        }

    def for_ticker(self, ticker: str, dates) -> PooledTicker:
        """The ticker's own slice: its pooled_oos column and the models fitted at `dates`."""
        empty = pd.Series(dtype=float, index=pd.DatetimeIndex([], name="date"), name="pooled_oos")
        models = {pd.Timestamp(d): self.models.get(pd.Timestamp(d)) for d in dates}
        return PooledTicker(self.oos_by_ticker.get(ticker, empty), models)


def uses_pooled(features: pd.DataFrame, settings: TrainSettings) -> bool:
    """Whether the run has a pooled candidate: asked for, and at least `pooled_min_tickers`."""
    enough = features["ticker"].nunique() >= settings.pooled_min_tickers
    return POOLED in settings.candidates and enough


def fit_pooled(features: pd.DataFrame, anchors, settings: TrainSettings) -> PooledFits | None:
    """The pooled fits of a run whose tickers train at `anchors` (dates); None when the run
    has no pooled candidate (see `uses_pooled`)."""
    if not uses_pooled(features, settings):
        return None
    rows = features.sort_values(["ticker", "date"], ignore_index=True)
    # A label is known from its own session on: the ticker's next row (or NaN, a gap).
    label_date = rows.groupby("ticker")["date"].shift(-1)
    calendar = pd.DatetimeIndex(np.sort(rows["date"].unique()))
    refits = refit_dates(calendar, anchors, oos_span(settings), settings.retrain_every)
    predictions = pd.Series(0.0, index=rows.index)
    models = {}
    for position, refit in enumerate(refits):
        window_start = calendar[max(calendar.get_loc(refit) - settings.train_window, 0)]
        known = rows["label"].notna() & (label_date <= refit) & (rows["date"] >= window_start)
        train = rows[known & ~rows["warm_up"]]
        models[refit] = fit_one(train, settings)
        until = refits[position + 1] if position + 1 < len(refits) else pd.Timestamp.max
        ahead = rows["date"].between(refit, until, inclusive="left") & ~rows["warm_up"]
        if models[refit] is not None and ahead.any():
            X = rows.loc[ahead, list(FEATURE_COLUMNS)]
            predictions[ahead] = models[refit].predict(X)
    oos = rows[["ticker", "date"]].assign(pooled_oos=predictions)
    return PooledFits(models, oos)


def oos_span(settings: TrainSettings) -> int:
    """Sessions before an anchor whose pooled predictions a ticker's walk-forward can read: its
    test blocks (n_splits x test_size, by default the second half of `train_window`), plus one
    retrain interval of margin. Refitting further back only cost time: at 500 tickers, covering
    the whole window took 51 refits and 42 s a live train, this span half of that."""
    test_size = settings.test_size or settings.train_window // (2 * settings.n_splits)
    return min(settings.n_splits * test_size, settings.train_window) + settings.retrain_every


def refit_dates(calendar: pd.DatetimeIndex, anchors, train_window: int, every: int):
    """The sorted refit sessions: the anchors, and every `every` sessions of `calendar` back from
    the first anchor until `train_window` sessions before it are covered."""
    anchors = pd.DatetimeIndex(sorted({pd.Timestamp(a) for a in anchors}))
    first = calendar.get_loc(anchors[0])
    steps = -(-train_window // every)  # ceil: the earliest refit is on or before the window
    earlier = [calendar[first - k * every] for k in range(1, steps + 1) if first - k * every >= 0]
    return anchors.union(pd.DatetimeIndex(earlier))


def fit_one(train: pd.DataFrame, settings: TrainSettings) -> BaseEstimator | None:
    """The pooled ridge fitted on `train`'s rows; None below `min_train_rows` rows."""
    if len(train) < settings.min_train_rows:
        return None
    return make_model(POOLED).fit(train[list(FEATURE_COLUMNS)], train["label"])


def add_pooled(oos: pd.DataFrame, estimators: dict, pooled: PooledTicker | None, as_of_date):
    """The pooled candidate beside the per-ticker ones: its column in the walk-forward `oos`
    (its out-of-sample predictions at those dates) and, as its estimator, the model fitted at
    `as_of_date`, frozen so that fitting a forecaster keeps it as it is. Unchanged without one."""
    model = None if pooled is None else pooled.models.get(pd.Timestamp(as_of_date))
    if model is None:
        return oos, estimators
    column = pooled.oos.reindex(pd.DatetimeIndex(oos["date"])).fillna(0.0).to_numpy()
    return oos.assign(**{POOLED: column}), {**estimators, POOLED: FrozenEstimator(model)}
