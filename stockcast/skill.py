"""Interval skill of past forecasts: coverage (overall, recent, by calendar year), width and the
Winkler interval score, per ticker and model beside the served `champion`.

The Winkler score of an interval [L, U] at nominal level 1 - a for the outcome y is
(U - L) + (2 / a) (L - y) when y < L, + (2 / a) (y - U) when y > U: narrow is rewarded, a miss is
charged by its distance. Widths and scores are divided by the as-of close (percent), so tickers
of different prices can be averaged. Pure: evaluated rows in, tables out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockcast.frames import require_columns

HISTORY_COLUMNS = (
    "ticker", "target_date", "model", "pred_lower", "pred_upper", "true_close", "as_of_close",
    "is_champion",
)  # fmt: skip
INTERVAL_COLUMNS = (
    "ticker", "model", "n", "coverage", "coverage_20", "coverage_60", "width_pct", "winkler_pct",
)  # fmt: skip


def winkler_scores(lower, upper, truth, level: float = 0.9) -> np.ndarray:
    """The Winkler score of each interval [lower, upper] for its outcome (NaN without bounds)."""
    lower, upper, truth = (np.asarray(v, dtype=float) for v in (lower, upper, truth))
    penalty = 2 / (1 - level)
    below = np.clip(lower - truth, 0, None)
    above = np.clip(truth - upper, 0, None)
    return (upper - lower) + penalty * (below + above)


def with_champion(history: pd.DataFrame) -> pd.DataFrame:
    """HISTORY_COLUMNS rows with bounds, plus a `champion` copy of each day's served row."""
    require_columns(history, HISTORY_COLUMNS, "interval scoring")
    rows = history[list(HISTORY_COLUMNS)].dropna(subset=["pred_lower", "pred_upper", "true_close"])
    champions = rows[rows["is_champion"].fillna(False).astype(bool)]
    return pd.concat([rows, champions.assign(model="champion")], ignore_index=True)


def score_intervals(history: pd.DataFrame, level: float = 0.9) -> pd.DataFrame:
    """INTERVAL_COLUMNS per ticker and model (and the served `champion`): coverage over every
    evaluated session and over the last 20 and 60, mean width and Winkler score in % of the
    as-of close. Rows without an interval (too little history) are left out, not counted as
    misses."""
    rows = with_champion(history)
    if rows.empty:
        return pd.DataFrame(columns=list(INTERVAL_COLUMNS))
    rows = rows.assign(
        inside=(rows["pred_lower"] <= rows["true_close"])
        & (rows["true_close"] <= rows["pred_upper"]),
        width_pct=(rows["pred_upper"] - rows["pred_lower"]) / rows["as_of_close"] * 100,
        winkler_pct=winkler_scores(
            rows["pred_lower"], rows["pred_upper"], rows["true_close"], level
        )
        / rows["as_of_close"]
        * 100,
    )
    table = [
        summarize_intervals(one.sort_values("target_date"))
        for _, one in rows.groupby(["ticker", "model"], sort=True)
    ]
    return pd.DataFrame(table, columns=list(INTERVAL_COLUMNS))


def summarize_intervals(one: pd.DataFrame) -> dict:
    """One ticker and model's rows, sorted by target date."""
    return {
        "ticker": one["ticker"].iloc[0],
        "model": one["model"].iloc[0],
        "n": len(one),
        "coverage": one["inside"].mean(),
        "coverage_20": one["inside"].tail(20).mean(),
        "coverage_60": one["inside"].tail(60).mean(),
        "width_pct": one["width_pct"].mean(),
        "winkler_pct": one["winkler_pct"].mean(),
    }


def coverage_by_year(history: pd.DataFrame) -> pd.DataFrame:
    """Coverage per (ticker, model) and calendar year of the target session: one column a year."""
    rows = with_champion(history)
    inside = (rows["pred_lower"] <= rows["true_close"]) & (rows["true_close"] <= rows["pred_upper"])
    year = pd.to_datetime(rows["target_date"]).dt.year.rename("year")
    if rows.empty:
        return pd.DataFrame()
    return inside.groupby([rows["ticker"], rows["model"], year]).mean().unstack("year")


# --- cross-sectional skill ----------------------------------------------------------------------

IC_COLUMNS = ("model", "sessions", "ic_mean", "ic_ir", "rank_ic_mean", "rank_ic_ir")


def cross_sectional_ic(history: pd.DataFrame, min_tickers: int = 5) -> pd.DataFrame:
    """IC_COLUMNS per model: per target session with at least `min_tickers` tickers, the Pearson
    (IC) and Spearman (RankIC) correlation across tickers of predicted and realized returns;
    their mean over sessions and IR = mean / standard deviation. Naive predicts no ranking: NaN.

    history: ticker, target_date, model, pred_close, true_close, as_of_close."""
    require_columns(
        history, ("ticker", "target_date", "model", "pred_close", "true_close", "as_of_close"), "ic"
    )
    rows = history.assign(
        predicted=np.log(history["pred_close"] / history["as_of_close"]),
        realized=np.log(history["true_close"] / history["as_of_close"]),
    )
    table = []
    for model, one in rows.groupby("model", sort=True):
        wide = one.groupby("target_date").filter(lambda day: day["ticker"].nunique() >= min_tickers)
        daily = wide.groupby("target_date")[["predicted", "realized"]]
        none = pd.Series(dtype=float)  # apply on no group gives an empty frame, not a series
        ic = daily.apply(correlate, method="pearson") if len(wide) else none
        rank_ic = daily.apply(correlate, method="spearman") if len(wide) else none
        table.append(
            {"model": model, "sessions": int(ic.notna().sum()),
             "ic_mean": ic.mean(), "ic_ir": information_ratio(ic),
             "rank_ic_mean": rank_ic.mean(), "rank_ic_ir": information_ratio(rank_ic)}
        )  # fmt: skip
    return pd.DataFrame(table, columns=list(IC_COLUMNS))


def correlate(day: pd.DataFrame, method: str) -> float:
    """The day's correlation of predicted and realized returns; NaN when either is constant."""
    if day["predicted"].nunique() < 2 or day["realized"].nunique() < 2:
        return np.nan
    return day["predicted"].corr(day["realized"], method=method)


def information_ratio(values: pd.Series) -> float:
    values = values.dropna()
    spread = values.std()
    return float(values.mean() / spread) if len(values) > 1 and spread > 0 else np.nan
