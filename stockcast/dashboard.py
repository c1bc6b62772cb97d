"""What the dashboard shows, read from the store: the latest forecast as a headline, a rolling
track record and the recent runs with links to their reports (the last train's leaderboard, read
from MLflow, is in leaderboard.py).

The functions here are pure (frames in, frames or HTML out) except `report_files` (the run
folders); `stockcast.dashboard_app` wires them into widgets.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from stockcast.frames import require_columns
from stockcast.skill import HISTORY_COLUMNS, score_intervals

NO_DATA = "no data yet: run `make run`"
WINDOW = 20  # evaluated sessions per rolling track-record point
DEFAULT_MONTHS = 3  # months of price history shown on load
CSS = """<style>
.sc-headline{border-left:4px solid #d9480f;padding:6px 14px;margin:6px 0 12px 0;
  font-family:Inter,Helvetica,Arial,sans-serif}
.sc-headline .sc-title{font-size:20px;font-weight:700;color:#1f2937}
.sc-headline .sc-main{font-size:22px;margin:4px 0}
.sc-headline .sc-price{color:#d9480f;font-weight:700}
.sc-headline .sc-sub{font-size:14px;color:#495057}
.sc-table{border-collapse:collapse;font-family:Inter,Helvetica,Arial,sans-serif;font-size:13px;
  margin:4px 0 10px 0}
.sc-table th,.sc-table td{border-bottom:1px solid #dee2e6;padding:4px 10px;text-align:right;
  white-space:nowrap}
.sc-table td.sc-wrap{white-space:normal}
.sc-table th:first-child,.sc-table td:first-child{text-align:left}
.sc-table td.sc-text,.sc-table th.sc-text{text-align:left}
.sc-table tr.sc-champion td{font-weight:700;background:#fff4e6}
.sc-caption{font-size:13px;color:#495057;margin:2px 0 6px 0;font-family:Inter,Helvetica,sans-serif}
.sc-empty{font-size:18px;font-family:Inter,Helvetica,Arial,sans-serif}
</style>"""


def price(value) -> str:
    """A price with two decimals and thousands separators; a dash when missing."""
    return "–" if value is None or pd.isna(value) else f"{value:,.2f}"


def session(value) -> str:
    return pd.Timestamp(value).strftime("%a %Y-%m-%d")


def no_data_html(message: str = NO_DATA) -> str:
    text = html.escape(message).replace("`make run`", "<code>make run</code>")
    return f'{CSS}<p class="sc-empty">{text}</p>'


# --- the view's dates ---------------------------------------------------------------------------


def default_range(last_date, months: int = DEFAULT_MONTHS) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The price chart's range on load: the last `months` months up to the last stored session."""
    end = pd.Timestamp(last_date).normalize()
    return end - pd.DateOffset(months=months), end


def cut_to_as_of(prices, preds, evals, as_of=None):
    """The view as it was on `as_of`: closes up to it, forecasts made on or before it, scores of
    sessions up to it. None keeps everything."""
    if as_of is None:
        return prices, preds, evals
    as_of = pd.Timestamp(as_of)
    return (
        prices[prices["date"] <= as_of],
        preds[preds["as_of_date"] <= as_of],
        evals[evals["target_date"] <= as_of],
    )


def cut_to_range(prices, preds, start, end):
    """Closes in [start, end] and forecasts for those sessions, plus the one made on `end` for
    the session after it (the forecast a reader of that day saw)."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    shown = prices[(prices["date"] >= start) & (prices["date"] <= end)]
    target = preds["target_date"]
    kept = (target >= start) & ((target <= end) | (preds["as_of_date"] <= end))
    return shown, preds[kept & (preds["as_of_date"] <= end)]


# --- the headline -------------------------------------------------------------------------------


def latest_headline(preds: pd.DataFrame, prices: pd.DataFrame) -> dict | None:
    """The newest champion forecast of one ticker with its as-of close and predicted change."""
    require_columns(preds, ("ticker", "target_date", "as_of_date", "pred_close"), "preds")
    champions = preds[preds["is_champion"].astype(bool)].sort_values(["target_date", "as_of_date"])
    if champions.empty:
        return None
    row = champions.iloc[-1]
    closes = prices.set_index("date")["close"]
    as_of_close = closes.get(row["as_of_date"], np.nan)
    version = row.get("model_version")
    return {
        "ticker": row["ticker"],
        "target_date": row["target_date"],
        "as_of_date": row["as_of_date"],
        "model": row["model"],
        "model_version": None if version is None or pd.isna(version) else str(version),
        "pred_close": row["pred_close"],
        "pred_lower": row.get("pred_lower"),
        "pred_upper": row.get("pred_upper"),
        "as_of_close": as_of_close,
        "change_pct": (row["pred_close"] / as_of_close - 1) * 100 if as_of_close else np.nan,
    }


def headline_html(headline: dict | None, ticker: str, level: float) -> str:
    """The latest forecast of one ticker in three lines: ticker, forecast, how it was made."""
    if headline is None:
        return f'{CSS}<p class="sc-caption">{html.escape(ticker)}: no forecast stored yet.</p>'
    h = headline
    version = f"MLflow model version {h['model_version']}" if h["model_version"] else "no version"
    change = "" if pd.isna(h["change_pct"]) else f" ({h['change_pct']:+.2f} % on the as-of close)"
    return (
        f'{CSS}<div class="sc-headline" data-ticker="{html.escape(h["ticker"])}">'
        f'<div class="sc-title">{html.escape(h["ticker"])}</div>'
        f'<div class="sc-main">Predicted close for {session(h["target_date"])}: '
        f'<span class="sc-price">{price(h["pred_close"])}</span>{change}</div>'
        f'<div class="sc-sub">{level:.0%} interval {price(h["pred_lower"])} – '
        f"{price(h['pred_upper'])} · model {html.escape(h['model'])}, {version} · as-of close "
        f"{price(h['as_of_close'])} on {session(h['as_of_date'])}</div></div>"
    )


def headlines_table_html(headlines: list[dict], level: float) -> str:
    """Every ticker's latest forecast as one table (the published snapshot)."""
    head = (
        "<tr><th>ticker</th><th>target session</th><th>predicted close</th>"
        f"<th>{level:.0%} interval</th><th>change</th><th>as-of close</th>"
        "<th class='sc-text'>model</th><th>version</th></tr>"
    )
    rows = "".join(
        f"<tr><td>{html.escape(h['ticker'])}</td><td>{session(h['target_date'])}</td>"
        f"<td><b>{price(h['pred_close'])}</b></td>"
        f"<td>{price(h['pred_lower'])} – {price(h['pred_upper'])}</td>"
        f"<td>{h['change_pct']:+.2f} %</td><td>{price(h['as_of_close'])} "
        f"({pd.Timestamp(h['as_of_date']):%Y-%m-%d})</td>"
        f"<td class='sc-text'>{html.escape(h['model'])}</td><td>{h['model_version'] or '–'}</td>"
        "</tr>"
        for h in headlines
    )
    return f'{CSS}<table class="sc-table">{head}{rows}</table>'


# --- the track record ---------------------------------------------------------------------------


def _direction_hits(rows: pd.DataFrame) -> pd.Series:
    """1 when a forecast called the move's sign right, 0 when wrong, NaN when it made no call."""
    called = np.sign(rows["pred_close"] - rows["as_of_close"])
    moved = np.sign(rows["true_close"] - rows["as_of_close"])
    hits = (called == moved).astype(float)
    return hits.where((called != 0) & (moved != 0) & called.notna() & moved.notna())


def rolling_track_record(evals: pd.DataFrame, window: int = WINDOW) -> pd.DataFrame:
    """Per target session of one ticker, over its last `window` evaluated sessions: RMSE and MAE
    of the served champion and of naive, their RMSE ratio, the champion's interval coverage and
    the directional accuracy of the champion and of every model that calls a direction.

    evals: `load_evaluations` rows with as_of_close (see evaluate.add_as_of_close).
    """
    require_columns(
        evals,
        ("target_date", "model", "pred_close", "true_close", "is_champion", "as_of_close"),
        "evals",
    )
    rows = evals.assign(error=evals["pred_close"] - evals["true_close"], hit=_direction_hits(evals))
    rows = rows.sort_values("target_date")
    champion = rows[rows["is_champion"].astype(bool)].set_index("target_date")
    naive = rows[rows["model"] == "naive"].set_index("target_date")
    dates = champion.index.union(naive.index)

    def rolling(series: pd.Series) -> pd.Series:
        return series.reindex(dates).rolling(window, min_periods=min(window, 5)).mean()

    inside = champion.get("inside_interval", pd.Series(index=champion.index, dtype=object))
    record = pd.DataFrame(
        {
            "champion_rmse": rolling(champion["error"] ** 2) ** 0.5,
            "naive_rmse": rolling(naive["error"] ** 2) ** 0.5,
            "champion_mae": rolling(champion["error"].abs()),
            "naive_mae": rolling(naive["error"].abs()),
            "coverage": rolling(pd.to_numeric(inside.astype(object), errors="coerce")),
            "champion_direction": rolling(champion["hit"]),
        },
        index=dates,
    )
    record["rmse_ratio"] = record["champion_rmse"] / record["naive_rmse"].replace(0, np.nan)
    for model in sorted(set(rows["model"]) - {"naive"}):
        hits = rows[rows["model"] == model].set_index("target_date")["hit"]
        record[f"{model}_direction"] = rolling(hits)
    record = record.dropna(how="all")  # sessions before the window has enough points
    return record.rename_axis("target_date").reset_index()


def track_record_caption(evals: pd.DataFrame, window: int = WINDOW) -> str:
    """One line: how the served forecast did over the last `window` sessions, beside naive."""
    record = rolling_track_record(evals, window).dropna(subset=["champion_rmse"])
    if record.empty:
        return "Too few evaluated sessions for a track record yet."
    last = record.iloc[-1]
    served = evals[evals["is_champion"].astype(bool)].tail(window)
    naive_share = (served["model"] == "naive").mean()
    coverage = "–" if pd.isna(last["coverage"]) else f"{last['coverage']:.0%}"
    return (
        f"Last {min(window, len(served))} evaluated sessions up to "
        f"{pd.Timestamp(last['target_date']):%Y-%m-%d}: served forecast RMSE "
        f"{price(last['champion_rmse'])} vs naive {price(last['naive_rmse'])} "
        f"(ratio {last['rmse_ratio']:.3f}), interval coverage {coverage}{interval_note(served)}; "
        f"naive was served {naive_share:.0%} of the days."
    )


def interval_note(served: pd.DataFrame) -> str:
    """', mean width w % and Winkler score s % of the close' of the served rows' intervals."""
    if not set(HISTORY_COLUMNS) <= set(served.columns):
        return ""
    scored = score_intervals(served).query("model == 'champion'")
    if scored.empty:
        return ""
    width, winkler = scored[["width_pct", "winkler_pct"]].iloc[0]
    return f", mean width {width:.2f} % and Winkler score {winkler:.2f} % of the close"


# --- recent runs --------------------------------------------------------------------------------


def report_files(report_dir, this_run: bool = False) -> list[str]:
    """The HTML reports in a run folder, the dashboard snapshot first (or [] once pruned)."""
    folder = Path(report_dir) if report_dir else None
    names = sorted(p.name for p in folder.glob("*.html")) if folder and folder.is_dir() else []
    if this_run and "dashboard.html" not in names:
        names.append("dashboard.html")  # written right after this snapshot is executed
    return sorted(names, key=lambda name: (name != "dashboard.html", name))


def runs_table_html(
    runs: pd.DataFrame, items: pd.DataFrame, reports: dict[str, list[str]], reports_url: str
) -> str:
    """Recent runs: kind, as-of, status, failed tickers, links to each report of the run."""
    if runs.empty:
        return f'{CSS}<p class="sc-caption">No run recorded yet.</p>'
    failed = items[items["status"] == "failed"] if not items.empty else items
    base = reports_url.rstrip("/")
    rows = []
    for run in runs.itertuples():
        mine = failed[failed["run_id"] == run.run_id] if not failed.empty else failed
        failures = ", ".join(f"{r.ticker} ({r.stage})" for r in mine.itertuples()) or "none"
        links = " · ".join(
            f'<a href="{html.escape(f"{base}/{run.run_id}/{name}")}" target="_blank">'
            f"{html.escape(name.removesuffix('.html'))}</a>"
            for name in reports.get(run.run_id, [])
        )
        as_of = "–" if pd.isna(run.as_of_date) else f"{pd.Timestamp(run.as_of_date):%Y-%m-%d}"
        rows.append(
            f"<tr><td>{html.escape(run.run_id)}</td><td class='sc-text'>{html.escape(run.kind)}"
            f"</td><td>{as_of}</td><td class='sc-text'>{html.escape(run.status)}</td>"
            f"<td>{pd.Timestamp(run.started_at):%Y-%m-%d %H:%M}</td>"
            f"<td class='sc-text'>{html.escape(failures)}</td>"
            f"<td class='sc-text sc-wrap'>{links or 'pruned'}</td></tr>"
        )
    head = (
        "<tr><th>run</th><th class='sc-text'>kind</th><th>as of</th><th class='sc-text'>status"
        "</th><th>started (UTC)</th><th class='sc-text'>failed tickers</th>"
        "<th class='sc-text'>reports</th></tr>"
    )
    index = f'<a href="{html.escape(base)}/index.html" target="_blank">every run</a>'
    return (
        f'{CSS}<table class="sc-table sc-runs">{head}{"".join(rows)}</table>'
        f'<p class="sc-caption">Newest first; {index}.</p>'
    )
