"""The dashboard's leaderboard: each candidate's out-of-sample scores from a ticker's last train,
read from MLflow in a child process so the page never waits on MLflow's imports or a locked store.
"""

from __future__ import annotations

import html
import logging
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd

from stockcast.blend import BLEND
from stockcast.config import CANDIDATES
from stockcast.dashboard import CSS

MLFLOW_TIMEOUT = 120  # seconds the leaderboard waits for MLflow (a run may lock its store)
STAGE = "train"

LEADERBOARD_COLUMNS = {
    "rmse": "RMSE (return, %)",
    "rmse_ratio": "RMSE / naive",
    "mae": "MAE (return, %)",
    "direction_acc": "direction hit rate",
    "folds_won": "folds beating naive",
    "dm_pvalue": "DM p-value",
    "weight": "share served",
    "n": "sessions",
}


def load_train_runs(settings, max_results: int = 5000) -> pd.DataFrame:
    """The newest train runs in MLflow, newest first (see tracking.search_runs)."""
    from stockcast import tracking

    return tracking.search_runs(settings, STAGE, max_results)


def start_reading_train_runs() -> subprocess.Popen:
    """Read the train runs in a child process (`python -m stockcast.leaderboard`), from the same
    environment. Importing MLflow and opening its store costs tens of seconds of CPU here: inside
    the dashboard's kernel it held the interpreter while the browser restored the page's widgets,
    and a store locked by a run could keep it for minutes; a child runs beside the kernel on
    another core and can be stopped."""
    return subprocess.Popen(
        [sys.executable, "-m", "stockcast.leaderboard"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def collect_train_runs(reader: subprocess.Popen, timeout: float = MLFLOW_TIMEOUT) -> pd.DataFrame:
    """The child's train runs; RuntimeError with one line when it failed or took too long."""
    try:
        out, err = reader.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        reader.kill()
        reader.communicate()
        raise RuntimeError(f"MLflow did not answer within {timeout:.0f} s") from None
    if reader.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines() or ["no message"]
        raise RuntimeError(lines[-1][:200])
    return pickle.loads(out)


def _write_train_runs() -> None:
    """The child's side: the train runs, pickled, on stdout; an error's last line on stderr."""
    from stockcast.config import load_settings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("mlflow").setLevel(logging.ERROR)
        runs = load_train_runs(load_settings())
    sys.stdout.buffer.write(pickle.dumps(runs))


def leaderboard(train_runs: pd.DataFrame, ticker: str, as_of=None) -> tuple[pd.DataFrame, dict]:
    """Each candidate's out-of-sample metrics from the ticker's last train (on or before `as_of`),
    best RMSE first, and that train's as-of, run and champion. Empty when it has none."""
    column = "tags.stockcast.ticker"
    if train_runs.empty or column not in train_runs:
        return pd.DataFrame(), {}
    runs = train_runs[train_runs[column] == ticker]
    if as_of is not None and "tags.stockcast.as_of" in runs:
        runs = runs[runs["tags.stockcast.as_of"] <= pd.Timestamp(as_of).date().isoformat()]
    if runs.empty:
        return pd.DataFrame(), {}
    last = runs.sort_values("start_time").iloc[-1]
    rows = []
    for model in (*CANDIDATES, BLEND):
        metrics = {m: last.get(f"metrics.{model}_{m}", np.nan) for m in LEADERBOARD_COLUMNS}
        if any(pd.notna(v) for v in metrics.values()):
            rows.append({"model": model, "champion": model == last.get("tags.champion"), **metrics})
    if not rows:
        return pd.DataFrame(), {}
    table = pd.DataFrame(rows).sort_values("rmse", ignore_index=True)
    info = {
        "ticker": ticker,
        "as_of": last.get("tags.stockcast.as_of"),
        "run_id": last.get("tags.stockcast.run_id"),
        "champion": last.get("tags.champion"),
        "reason": last.get("tags.reason") or "",
    }
    return table, info


def leaderboard_html(table: pd.DataFrame, info: dict) -> str:
    if table.empty:
        return f'{CSS}<p class="sc-caption">No train logged in MLflow yet for this ticker.</p>'
    percent = ("rmse", "mae")
    rates = ("direction_acc", "folds_won", "weight")
    head = "<tr><th>model</th>" + "".join(f"<th>{v}</th>" for v in LEADERBOARD_COLUMNS.values())
    body = []
    for row in table.itertuples():
        cells = []
        for name in LEADERBOARD_COLUMNS:
            value = getattr(row, name)
            if pd.isna(value):
                cells.append("–")
            elif name in percent:
                cells.append(f"{value * 100:.3f}")
            elif name in rates:
                cells.append(f"{value:.0%}")
            elif name == "n":
                cells.append(f"{int(value)}")
            else:
                cells.append(f"{value:.3f}")
        mark = " (champion)" if row.champion else ""
        css = ' class="sc-champion"' if row.champion else ""
        body.append(
            f"<tr{css}><td>{html.escape(row.model)}{mark}</td>"
            + "".join(f"<td>{c}</td>" for c in cells)
            + "</tr>"
        )
    caption = (
        f"{html.escape(info['ticker'])}: last train as of {html.escape(str(info['as_of']))} "
        f"(run {html.escape(str(info['run_id']))}), walk-forward out-of-sample scores of the "
        f"next-session return. {html.escape(info['reason'][:300])}"
    )
    return (
        f'{CSS}<p class="sc-caption">{caption}</p>'
        f'<table class="sc-table">{head}</tr>{"".join(body)}</table>'
    )


if __name__ == "__main__":
    _write_train_runs()
