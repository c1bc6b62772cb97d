"""overview.py and the dashboard at a universe's size: one row per ticker, sortable, and a static
snapshot that charts a bounded number of tickers whatever the universe holds."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from api_data import _evaluations, _predictions
from synthetic import make_prices

from stockcast import config, dashboard, dashboard_app, evaluate, overview, store
from stockcast.dashboard_live import PLOTLY_MIME
from stockcast.store import schema
from stockcast.store.rows import to_records, utc_now


def filled(tickers, sessions=60):
    prices = pd.concat(
        [make_prices(sessions, ticker=t, seed=i) for i, t in enumerate(tickers)],
        ignore_index=True,
    )
    preds = _predictions(prices)
    return prices, preds, _evaluations(preds, prices)


def write(prices, preds, evals, monkeypatch) -> None:
    """The rows in one transaction (the store's per-ticker writes take a minute at 500), and no
    MLflow: the leaderboard is not what these tests look at."""
    engine = store.connect(config.load_settings().db_url)
    now = utc_now()
    stamp = {"updated_at": now, "created_at": now, "source": "sample"}
    with engine.begin() as conn:
        for table, frame in ((schema.stock_price, prices), (schema.stock_pred, preds)):
            rows = to_records(frame.assign(run_id="demo-1", **stamp), table.columns.keys())
            conn.execute(table.insert(), rows)
        rows = to_records(evals.assign(run_id="demo-1"), schema.stock_pred_eval.columns.keys())
        conn.execute(schema.stock_pred_eval.insert(), rows)
    monkeypatch.setattr(dashboard_app.leaderboard, "start_reading_train_runs", lambda: None)
    monkeypatch.setattr(dashboard_app.Dashboard, "train_runs", lambda self: pd.DataFrame())


def test_a_row_per_ticker_agrees_with_the_tickers_own_view():
    prices, preds, evals = filled(["AAA", "BBB"])
    evals = evaluate.add_as_of_close(evals.assign(is_champion=evals["model"] == "ridge"), prices)
    table = overview.universe_overview(preds, prices, evals, window=10)
    assert list(table["ticker"]) == ["AAA", "BBB"] and list(table.columns) == list(overview.COLUMNS)
    for row in table.itertuples():
        mine = preds[preds["ticker"] == row.ticker]
        headline = dashboard.latest_headline(mine, prices[prices["ticker"] == row.ticker])
        assert row.pred_close == headline["pred_close"] and row.model == "ridge"
        assert row.width_pct == pytest.approx(4.0)  # the fixture's ±2 % band
        record = dashboard.rolling_track_record(evals[evals["ticker"] == row.ticker], 10)
        assert row.rmse_ratio == pytest.approx(record["rmse_ratio"].iloc[-1])
        assert row.coverage == pytest.approx(record["coverage"].iloc[-1])
        assert row.last_evaluated == mine["target_date"].max()


def test_a_ticker_without_evaluations_is_listed_without_scores():
    prices, preds, _ = filled(["AAA"])
    table = overview.universe_overview(preds, prices, pd.DataFrame(), window=10)
    assert len(table) == 1 and np.isnan(table["rmse_ratio"].iloc[0])
    assert pd.isna(table["last_evaluated"].iloc[0])
    assert "–" in overview.overview_html(table, 0.9, 10)


def test_sorting_keeps_missing_values_last_and_names_a_bad_column():
    table = pd.DataFrame({"ticker": ["A", "B", "C"], "rmse_ratio": [1.01, np.nan, 0.98]}).reindex(
        columns=list(overview.COLUMNS)
    )
    assert list(overview.sort_overview(table, "rmse_ratio")["ticker"]) == ["C", "A", "B"]
    assert list(overview.sort_overview(table, "rmse_ratio", True)["ticker"]) == ["A", "C", "B"]
    assert overview.worst_first(table, 1) == ["A"]
    with pytest.raises(ValueError, match="cannot sort the overview by 'price': use one of"):
        overview.sort_overview(table, "price")


def test_the_snapshot_of_500_tickers_lists_all_and_charts_a_bounded_few(tmp_path, monkeypatch):
    monkeypatch.setenv("STOCKCAST_OUTPUTS", str(tmp_path))
    tickers = [f"S{i:03d}" for i in range(500)]
    prices, preds, evals = filled(tickers, sessions=40)
    worst = "S123"  # its served forecast misses by far more than naive's
    evals.loc[(evals["ticker"] == worst) & (evals["model"] == "ridge"), "pred_close"] *= 1.5
    write(prices, preds, evals, monkeypatch)
    shown = []
    monkeypatch.setattr(dashboard_app, "display", lambda obj, **_: shown.append(obj))

    view = dashboard_app.Dashboard(config.load_settings(), static=True, max_charts=5)
    for show in ("controls", "headline", "overview", "prices", "track_record", "runs"):
        getattr(view, f"show_{show}")()

    charted = view.charted()
    assert len(charted) == 5 and charted[0] == worst
    figures = [o for o in shown if isinstance(o, dict) and PLOTLY_MIME in o]
    assert len(figures) == 2 * 5
    page = "".join(getattr(o, "data", "") for o in shown if not isinstance(o, dict))
    assert page.count("<tr><td>S") == 500 + 5  # the overview's rows, the charted headlines
    assert "charts of the 5 whose served forecast did worst" in page
    size = len(page) + sum(len(json.dumps(f)) for f in figures)
    assert size < 10_000_000, f"the snapshot's outputs hold {size:,} bytes"


def test_the_served_view_searches_tickers_and_sorts_the_overview(tmp_path, monkeypatch):
    monkeypatch.setenv("STOCKCAST_OUTPUTS", str(tmp_path))
    prices, preds, evals = filled(["AAPL", "AMZN", "MSFT"])
    evals.loc[(evals["ticker"] == "AMZN") & (evals["model"] == "ridge"), "pred_close"] *= 1.5
    write(prices, preds, evals, monkeypatch)
    view = dashboard_app.Dashboard(config.load_settings())
    view.ticker_box.value = "MSFT"
    view.search_box.value = "a"
    assert view.ticker_box.options == ("AAPL", "AMZN") and view.ticker_box.value == "AAPL"
    view.ticker_box.value = "AMZN"
    view.search_box.value = ""  # every ticker again, the one picked kept
    assert len(view.ticker_box.options) == 3 and view.ticker_box.value == "AMZN"
    assert 'data-ticker="AMZN"' in view.headline_box.value
    view.search_box.value = "zzz"  # nothing matches: the list stays whole
    assert len(view.ticker_box.options) == 3
    view.sort_box.value, view.descending_box.value = "rmse_ratio", True
    order = re.findall(r"<tr><td>(\w+)</td>", view.overview_box.value)
    assert order[0] == "AMZN" and sorted(order) == ["AAPL", "AMZN", "MSFT"]
