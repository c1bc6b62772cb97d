"""A small filled database for the API tests, written with the store's own functions.

Two tickers with 60 sessions of prices, three candidates' predictions and their evaluations
for the last 20 sessions, and runs in every state a reader meets: finished ok, failed with a
ticker's failure, still running, killed (its row left `running`), and marked abandoned.
"""

from __future__ import annotations

import pandas as pd
from synthetic import make_prices

from stockcast import store

TICKERS = ("AAPL", "MSFT")
MODELS = ("naive", "ridge", "xgboost")
SESSIONS = 60
SCORED = 20
REPORT_ROOT = "/srv/stockcast/outputs/runs"  # an absolute server path the API must not show


def _predictions(prices: pd.DataFrame) -> pd.DataFrame:
    """For each of the last SCORED as-of sessions, a row per model for the next session."""
    rows = []
    for ticker, group in prices.groupby("ticker"):
        dates, closes = group["date"].tolist(), group["close"].tolist()
        for i in range(len(dates) - SCORED - 1, len(dates) - 1):
            for step, model in enumerate(MODELS):
                pred = closes[i] * (1 + 0.001 * step)
                rows.append(
                    {
                        "ticker": ticker,
                        "as_of_date": dates[i],
                        "target_date": dates[i + 1],
                        "model": model,
                        "pred_close": pred,
                        "pred_lower": pred * 0.98 if model != "naive" else None,
                        "pred_upper": pred * 1.02 if model != "naive" else None,
                        "is_champion": model == "ridge",
                        "model_version": "1" if model != "naive" else None,
                    }
                )
    return pd.DataFrame(rows)


def _evaluations(preds: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    truth = prices.rename(columns={"date": "target_date", "close": "true_close"})
    truth = truth[["ticker", "target_date", "true_close"]]
    frame = preds.merge(truth, on=["ticker", "target_date"])
    frame["abs_error"] = (frame["pred_close"] - frame["true_close"]).abs()
    frame["pct_error"] = frame["abs_error"] / frame["true_close"]
    inside = (frame["pred_lower"] <= frame["true_close"]) & (
        frame["true_close"] <= frame["pred_upper"]
    )
    frame["inside_interval"] = inside.where(frame["pred_lower"].notna())
    return frame


def _run(engine, run_id: str, kind: str, as_of, status: str | None) -> None:
    store.start_run(engine, run_id, kind, as_of, f"{REPORT_ROOT}/{run_id}")
    if status is not None:
        store.finish_run(engine, run_id, status)


def fill(url: str) -> None:
    """Migrate the database at `url` and write the rows described in this module's docstring."""
    engine = store.connect(url)
    prices = pd.concat(
        [make_prices(SESSIONS, ticker=t, seed=i) for i, t in enumerate(TICKERS)],
        ignore_index=True,
    )
    store.save_prices(engine, prices, "sample")
    preds = _predictions(prices)
    last = preds["as_of_date"].max()
    _run(engine, "demo-20240101T000000Z-aaaa", "demo", last, "ok")
    store.save_predictions(engine, preds, "demo-20240101T000000Z-aaaa")
    store.save_evaluations(engine, _evaluations(preds, prices), "demo-20240101T000000Z-aaaa")
    _run(engine, "daily-20240102T000000Z-bbbb", "daily", last, "failed")
    store.record_outcomes(
        engine, "daily-20240102T000000Z-bbbb", "train", TICKERS, {"MSFT": "too few rows"}
    )
    _run(engine, "daily-20240103T000000Z-cccc", "daily", None, None)  # killed: stays running
    store.mark_abandoned(engine)
    _run(engine, "weekly-20240104T000000Z-dddd", "weekly", None, None)  # in progress
    engine.dispose()
