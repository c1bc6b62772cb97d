"""The universe overview: one row per ticker, for universes of hundreds of tickers.

Each row holds the ticker's latest served forecast, its interval width, the served model, how
the served forecast did against naive over its last `window` evaluated sessions (RMSE ratio,
interval coverage) and the last evaluated session. Pure: frames in (read in bulk by the
dashboard), a frame or HTML out, computed for every ticker at once; a test checks the numbers
equal what `dashboard.latest_headline` and `dashboard.rolling_track_record` show for one ticker.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from stockcast.dashboard import CSS, price, session

COLUMNS = {  # column -> heading
    "ticker": "ticker",
    "target_date": "target session",
    "pred_close": "predicted close",
    "change_pct": "change",
    "width_pct": "interval width",
    "model": "served model",
    "rmse_ratio": "RMSE / naive",
    "coverage": "coverage",
    "last_evaluated": "last evaluated",
}


def universe_overview(
    preds: pd.DataFrame, prices: pd.DataFrame, evals: pd.DataFrame, window: int
) -> pd.DataFrame:
    """One row per ticker with a stored forecast (COLUMNS), in ticker order.

    preds, prices: `stock_pred` and `stock_price` rows of every ticker (recent ones suffice);
    evals: `load_evaluations` rows. Computed for all tickers at once (hundreds of tickers in
    well under a second); the same numbers as `latest_headline` and the newest point of
    `rolling_track_record` give one ticker, which a test checks.
    """
    champions = preds[preds["is_champion"].astype(bool)].sort_values(
        ["ticker", "target_date", "as_of_date"]
    )
    latest = champions.groupby("ticker", sort=True).tail(1)
    closes = prices.rename(columns={"date": "as_of_date", "close": "as_of_close"})
    latest = latest.merge(closes[["ticker", "as_of_date", "as_of_close"]], how="left")
    table = pd.DataFrame(
        {
            "ticker": latest["ticker"],
            "target_date": latest["target_date"],
            "pred_close": latest["pred_close"],
            "change_pct": (latest["pred_close"] / latest["as_of_close"] - 1) * 100,
            "width_pct": (latest["pred_upper"] - latest["pred_lower"]) / latest["pred_close"] * 100,
            "model": latest["model"],
        }
    )
    table = table.merge(latest_scores(evals, window), on="ticker", how="left")
    return table.reindex(columns=list(COLUMNS)).reset_index(drop=True)


def latest_scores(evals: pd.DataFrame, window: int) -> pd.DataFrame:
    """Per ticker over its last `window` evaluated sessions (served or naive): the served
    forecast's RMSE ratio to naive, its interval coverage and the last evaluated session; a
    score needs min(window, 5) sessions, as in `rolling_track_record`."""
    columns = ["ticker", "rmse_ratio", "coverage", "last_evaluated"]
    if evals.empty:
        return pd.DataFrame(columns=columns)
    rows = evals.assign(squared=(evals["pred_close"] - evals["true_close"]) ** 2)
    keys = ["ticker", "target_date"]
    served = rows[rows["is_champion"].astype(bool)]
    served = served.assign(inside=pd.to_numeric(served["inside_interval"], errors="coerce"))
    naive = rows.loc[rows["model"] == "naive", [*keys, "squared"]]
    both = served[[*keys, "squared", "inside"]].merge(
        naive, on=keys, how="outer", suffixes=("", "_naive")
    )
    recent = both.sort_values(keys).groupby("ticker").tail(window).groupby("ticker")
    enough = min(window, 5)

    def mean(column: str) -> pd.Series:
        return recent[column].mean().where(recent[column].count() >= enough)

    ratio = (mean("squared") / mean("squared_naive").replace(0, np.nan)) ** 0.5
    scores = pd.DataFrame(
        {
            "rmse_ratio": ratio,
            "coverage": mean("inside"),
            "last_evaluated": evals.groupby("ticker")["target_date"].max(),
        }
    )
    return scores.rename_axis("ticker").reset_index()


def sort_overview(table: pd.DataFrame, by: str = "ticker", descending: bool = False):
    """The overview sorted by one of its columns, missing values last whatever the direction."""
    if by not in COLUMNS:
        raise ValueError(f"cannot sort the overview by {by!r}: use one of {', '.join(COLUMNS)}")
    return table.sort_values(
        [by, "ticker"], ascending=[not descending, True], na_position="last", ignore_index=True
    )


def worst_first(table: pd.DataFrame, count: int) -> list[str]:
    """The `count` tickers whose served forecast did worst against naive lately (highest RMSE
    ratio; unscored ones after, in ticker order): the ones a reader should look at first."""
    return list(sort_overview(table, "rmse_ratio", descending=True)["ticker"].head(count))


def overview_html(table: pd.DataFrame, level: float, window: int) -> str:
    """The overview as one HTML table with a caption saying what each number means."""
    if table.empty:
        return f'{CSS}<p class="sc-caption">No forecast stored yet.</p>'
    head = "".join(
        f"<th class='sc-text'>{name}</th>" if key in ("ticker", "model") else f"<th>{name}</th>"
        for key, name in COLUMNS.items()
    )
    body = "".join(
        f"<tr><td>{html.escape(row.ticker)}</td><td>{session(row.target_date)}</td>"
        f"<td>{price(row.pred_close)}</td><td>{_number(row.change_pct, '{:+.2f} %')}</td>"
        f"<td>{_number(row.width_pct, '{:.2f} %')}</td>"
        f"<td class='sc-text'>{html.escape(row.model)}</td>"
        f"<td>{_number(row.rmse_ratio, '{:.3f}')}</td><td>{_number(row.coverage, '{:.0%}')}</td>"
        f"<td>{'–' if pd.isna(row.last_evaluated) else session(row.last_evaluated)}</td></tr>"
        for row in table.itertuples()
    )
    caption = (
        f"{len(table)} tickers. Change: the served forecast against the as-of close; interval "
        f"width: the {level:.0%} interval relative to the forecast; RMSE / naive and coverage: the "
        f"served forecast over its last {window} evaluated sessions (below 1 beats naive)."
    )
    return (
        f'{CSS}<p class="sc-caption">{caption}</p>'
        f'<table class="sc-table sc-overview"><tr>{head}</tr>{body}</table>'
    )


def _number(value, form: str) -> str:
    return "–" if pd.isna(value) else form.format(value)
