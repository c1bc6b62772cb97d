"""Scoring of past forecasts against the closes that came: `stock_pred_eval` rows, rolling
summaries per ticker and model beside naive, and the performance-drop alerts that trigger tuning.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockcast.frames import require_columns

EVAL_COLUMNS = (
    "ticker", "target_date", "model", "pred_close", "true_close", "abs_error", "pct_error",
    "inside_interval",
)  # fmt: skip
SUMMARY_COLUMNS = (
    "ticker", "model", "window", "n", "rmse", "mae", "mape", "direction_acc", "coverage",
    "rmse_ratio", "naive_served",
)  # fmt: skip
ALERT_COLUMNS = ("ticker", "window", "n", "champion_rmse", "naive_rmse", "ratio", "message")


def compute_rmse(errors) -> float:
    errors = np.asarray(errors, dtype=float)
    return float(np.sqrt(np.mean(errors**2))) if errors.size else np.nan


def compute_direction_accuracy(y_true, y_pred) -> float:
    """Share of calls whose sign matches the outcome; a zero prediction or outcome is no call,
    so naive (always zero) has no directional accuracy: NaN, not 0 % and not 50 %."""
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    calls = (y_true != 0) & (y_pred != 0) & np.isfinite(y_pred) & np.isfinite(y_true)
    return (
        float(np.mean(np.sign(y_true[calls]) == np.sign(y_pred[calls]))) if calls.any() else np.nan
    )


def score_predictions(preds: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """EVAL_COLUMNS for every prediction whose target session has a close (as traded)."""
    require_columns(
        preds, ("ticker", "target_date", "model", "pred_close", "pred_lower", "pred_upper"), "preds"
    )
    require_columns(prices, ("ticker", "date", "close"), "prices")
    closes = prices[["ticker", "date", "close"]].dropna(subset=["close"])
    closes = closes.rename(columns={"date": "target_date", "close": "true_close"})
    rows = preds.merge(closes, on=["ticker", "target_date"], how="inner", validate="many_to_one")
    abs_error = (rows["pred_close"] - rows["true_close"]).abs()
    bounded = rows["pred_lower"].notna() & rows["pred_upper"].notna()
    inside = (rows["pred_lower"] <= rows["true_close"]) & (rows["true_close"] <= rows["pred_upper"])
    rows = rows.assign(
        abs_error=abs_error,
        pct_error=abs_error / rows["true_close"] * 100,
        # No interval (too little history for conformal bounds) is unknown (None), not a miss.
        inside_interval=inside.astype(object).where(bounded, None),
    )
    return rows[list(EVAL_COLUMNS)].reset_index(drop=True)


def add_as_of_close(preds: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """preds + as_of_close, the as-traded close at each row's as_of_date (for summarize)."""
    require_columns(preds, ("ticker", "as_of_date"), "preds")
    closes = prices[["ticker", "date", "close"]].rename(
        columns={"date": "as_of_date", "close": "as_of_close"}
    )
    return preds.merge(closes, on=["ticker", "as_of_date"], how="left", validate="many_to_one")


def summarize(
    evals: pd.DataFrame, preds: pd.DataFrame | None = None, windows=(20, 60)
) -> pd.DataFrame:
    """SUMMARY_COLUMNS per ticker, model and window (the last `window` evaluated target dates).

    preds: ticker, target_date, model, is_champion, as_of_close (see add_as_of_close); None when
    evals carries those two columns already. Besides each model, a "champion" row scores
    whichever model was served each day; its naive_served is the share of days naive served.
    """
    require_columns(evals, EVAL_COLUMNS, "evals")
    keys = ["ticker", "target_date", "model"]
    preds = evals if preds is None else preds
    require_columns(preds, (*keys, "is_champion", "as_of_close"), "preds")
    rows = evals[list(EVAL_COLUMNS)].merge(
        preds[[*keys, "is_champion", "as_of_close"]], on=keys, how="left", validate="one_to_one"
    )
    champions = rows[rows["is_champion"].fillna(False).astype(bool)]
    rows = pd.concat([rows, champions.assign(served=champions["model"], model="champion")])
    parts = [
        summarize_window(one, window)
        for _, one in rows.groupby("ticker", sort=True)
        for window in windows
    ]
    return pd.DataFrame([r for part in parts for r in part], columns=list(SUMMARY_COLUMNS))


def summarize_window(one: pd.DataFrame, window: int) -> list[dict]:
    """One ticker's rows restricted to its last `window` evaluated target dates, per model."""
    last_dates = np.sort(one["target_date"].unique())[-window:]
    recent = one[one["target_date"].isin(last_dates)]
    naive = recent[recent["model"] == "naive"].set_index("target_date")
    return [score_model(rows, naive, window) for _, rows in recent.groupby("model", sort=True)]


def score_model(rows: pd.DataFrame, naive: pd.DataFrame, window: int) -> dict:
    errors = rows["pred_close"] - rows["true_close"]
    common = rows["target_date"].isin(naive.index)
    naive_rmse = compute_rmse(naive.loc[rows.loc[common, "target_date"], "abs_error"])
    common_rmse = compute_rmse(errors[common])
    served = rows["served"] if "served" in rows and rows["model"].iloc[0] == "champion" else None
    return {
        "ticker": rows["ticker"].iloc[0],
        "model": rows["model"].iloc[0],
        "window": window,
        "n": len(rows),
        "rmse": compute_rmse(errors),
        "mae": errors.abs().mean(),
        "mape": rows["pct_error"].mean(),
        "direction_acc": compute_direction_accuracy(
            rows["true_close"] - rows["as_of_close"], rows["pred_close"] - rows["as_of_close"]
        ),
        "coverage": rows["inside_interval"].astype(object).dropna().astype(float).mean(),
        "rmse_ratio": common_rmse / naive_rmse if naive_rmse > 0 else np.nan,
        "naive_served": (served == "naive").mean() if served is not None else np.nan,
    }


def detect_drops(
    summary: pd.DataFrame, margin: float = 0.05, window: int = 20, min_sessions: int = 10
) -> pd.DataFrame:
    """ALERT_COLUMNS per ticker whose served champion's RMSE over the last `window` evaluated
    sessions exceeds naive's over the same sessions by more than `margin` (relative); tickers
    with fewer than `min_sessions` evaluated sessions are not judged yet."""
    require_columns(summary, ("ticker", "model", "window", "n", "rmse", "rmse_ratio"), "summary")
    if len(summary) and not (summary["window"] == window).any():
        raise ValueError(f"the summary has no {window}-session window: summarize with it")
    scored = summary[(summary["window"] == window) & (summary["n"] >= min_sessions)]
    champion = scored[scored["model"] == "champion"].set_index("ticker")
    naive_rmse = scored[scored["model"] == "naive"].set_index("ticker")["rmse"]
    dropped = champion[champion["rmse_ratio"] > 1 + margin].join(naive_rmse.rename("naive_rmse"))
    alerts = [make_alert(ticker, row, margin) for ticker, row in dropped.iterrows()]
    return pd.DataFrame(alerts, columns=list(ALERT_COLUMNS))


def make_alert(ticker: str, row: pd.Series, margin: float) -> dict:
    n, ratio = int(row["n"]), row["rmse_ratio"]
    message = (
        f"{ticker}: the served champion's RMSE over the last {n} sessions is {ratio - 1:.1%} "
        f"above naive's ({row['rmse']:.4g} vs {row['naive_rmse']:.4g}, margin {margin:.0%}): "
        f"retune {ticker}"
    )
    return {
        "ticker": ticker,
        "window": int(row["window"]),
        "n": n,
        "champion_rmse": row["rmse"],
        "naive_rmse": row["naive_rmse"],
        "ratio": ratio,
        "message": message,
    }
