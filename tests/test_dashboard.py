"""dashboard.py and dashboard_app.py: headline, track record, leaderboard, runs, no data."""

import json

import numpy as np
import pandas as pd
import pytest
from test_plots import make_frames

from stockcast import config, dashboard, dashboard_app, leaderboard, store
from stockcast.config import NOTEBOOKS_DIR
from stockcast.dashboard_live import PLOTLY_MIME


def test_headline_is_the_newest_champion_forecast_with_its_as_of_close():
    prices, preds = make_frames(12)
    headline = dashboard.latest_headline(preds, prices)
    last = preds[preds["is_champion"]].iloc[-1]
    assert headline["target_date"] == prices["date"].iloc[-1]
    assert headline["model"] == last["model"] == "naive"
    assert headline["model_version"] == "3"
    assert headline["as_of_close"] == prices["close"].iloc[-2]
    expected = (last["pred_close"] / prices["close"].iloc[-2] - 1) * 100
    assert headline["change_pct"] == pytest.approx(expected)


def test_headline_html_reads_as_a_sentence_with_two_decimal_prices():
    prices, preds = make_frames(12)
    prices["close"] *= 10.123
    preds["pred_close"] = 1234.5
    text = dashboard.headline_html(dashboard.latest_headline(preds, prices), "AAA", 0.9)
    assert 'data-ticker="AAA"' in text
    assert "1,234.50" in text and "Wed 2021-01-20" in text  # the target session
    assert "model naive, MLflow model version 3" in text
    assert "90% interval" in text


def test_no_forecast_and_no_champion_give_no_headline():
    prices, preds = make_frames(3)
    assert dashboard.latest_headline(preds.assign(is_champion=False), prices) is None
    assert "no forecast stored yet" in dashboard.headline_html(None, "AAA", 0.9)


def test_rolling_track_record_scores_the_served_forecast_beside_naive():
    _, evals = make_frames(12)  # served: ridge (exact) on even days, naive (off by 1) on odd
    record = dashboard.rolling_track_record(evals, window=10).set_index("target_date")
    last = record.iloc[-1]
    assert last["champion_rmse"] == pytest.approx(np.sqrt(0.5))
    assert last["naive_rmse"] == pytest.approx(1.0)
    assert last["champion_mae"] == pytest.approx(0.5)
    assert last["rmse_ratio"] == pytest.approx(np.sqrt(0.5))
    assert last["coverage"] == 1.0
    assert last["champion_direction"] == 1.0  # naive's days make no call and do not count
    assert record["ridge_direction"].iloc[-1] == 1.0
    assert "naive_direction" not in record
    assert len(record) == 12 - 5 + 1  # sessions before 5 points are in the window are dropped


def test_track_record_caption_says_how_often_naive_was_served():
    _, evals = make_frames(12)
    caption = dashboard.track_record_caption(evals, window=4)
    assert "naive was served 50% of the days" in caption
    width = np.mean([3 / close for close in (108, 109, 110, 111)]) * 100  # all inside
    assert f"mean width {width:.2f} % and Winkler score {width:.2f} % of the close" in caption
    assert "Too few" in dashboard.track_record_caption(evals.head(4), window=4)


def test_rolling_track_record_names_a_missing_column():
    _, evals = make_frames(5)
    with pytest.raises(KeyError, match="as_of_close"):
        dashboard.rolling_track_record(evals.drop(columns="as_of_close"))


def train_runs():
    """What mlflow.search_runs answers for two trains of AAA and one of BBB, newest first."""
    row = {
        "tags.stockcast.ticker": "AAA",
        "tags.stockcast.run_id": "daily-2",
        "tags.stockcast.as_of": "2021-02-01",
        "tags.champion": "ridge",
        "tags.reason": "ridge served",
        "start_time": pd.Timestamp("2021-02-01 22:00", tz="UTC"),
    }
    for model, rmse in (("naive", 0.02), ("ridge", 0.019), ("xgboost", 0.021)):
        row |= {f"metrics.{model}_rmse": rmse, f"metrics.{model}_rmse_ratio": rmse / 0.02}
        row |= {f"metrics.{model}_n": 200.0, f"metrics.{model}_direction_acc": np.nan}
    older = row | {
        "tags.stockcast.run_id": "daily-1",
        "tags.stockcast.as_of": "2021-01-04",
        "tags.champion": "naive",
        "start_time": pd.Timestamp("2021-01-04 22:00", tz="UTC"),
    }
    other = row | {"tags.stockcast.ticker": "BBB"}
    return pd.DataFrame([row, other, older])


def test_leaderboard_is_the_last_train_of_the_ticker_best_first():
    table, info = leaderboard.leaderboard(train_runs(), "AAA")
    assert list(table["model"]) == ["ridge", "naive", "xgboost"]
    assert table.loc[table["champion"], "model"].tolist() == ["ridge"]
    assert info["run_id"] == "daily-2" and info["as_of"] == "2021-02-01"
    text = leaderboard.leaderboard_html(table, info)
    assert "ridge (champion)" in text and "1.900" in text  # RMSE of the return, in %


def test_leaderboard_as_of_a_past_day_uses_the_train_of_that_day():
    table, info = leaderboard.leaderboard(train_runs(), "AAA", as_of="2021-01-15")
    assert info["run_id"] == "daily-1"
    assert table.loc[table["champion"], "model"].tolist() == ["naive"]


def test_leaderboard_without_a_train_says_so():
    table, info = leaderboard.leaderboard(train_runs(), "ZZZ")
    assert table.empty and info == {}
    assert "No train logged" in leaderboard.leaderboard_html(table, info)
    assert leaderboard.leaderboard(pd.DataFrame(), "AAA")[0].empty


def test_runs_table_links_every_report_through_the_given_route(tmp_path):
    folder = tmp_path / "daily-1"
    folder.mkdir()
    for name in ("06_evaluate.html", "dashboard.html", "01_ingest.html", "01_ingest.ipynb"):
        (folder / name).write_text("x")
    runs = pd.DataFrame(
        {
            "run_id": ["daily-1", "demo-0"],
            "kind": ["daily", "demo"],
            "as_of_date": [pd.Timestamp("2013-03-01"), None],
            "started_at": pd.to_datetime(["2024-01-02 22:00", "2024-01-01 22:00"]),
            "status": ["partial", "ok"],
            "report_dir": [str(folder), str(tmp_path / "pruned")],
        }
    )
    items = pd.DataFrame(
        {"run_id": ["daily-1"], "stage": ["train"], "ticker": ["GOOG"], "status": ["failed"]}
    )
    reports = {r.run_id: dashboard.report_files(r.report_dir) for r in runs.itertuples()}
    assert reports["daily-1"] == ["dashboard.html", "01_ingest.html", "06_evaluate.html"]
    text = dashboard.runs_table_html(runs, items, reports, "reports")
    assert 'href="reports/daily-1/dashboard.html"' in text
    assert 'href="reports/daily-1/06_evaluate.html"' in text
    assert "GOOG (train)" in text and "pruned" in text
    assert text.index("daily-1") < text.index("demo-0")
    assert 'href="../daily-1/01_ingest.html"' in dashboard.runs_table_html(
        runs, items, reports, ".."
    )


def test_the_snapshot_links_to_itself_before_it_is_written(tmp_path):
    assert dashboard.report_files(tmp_path, this_run=True) == ["dashboard.html"]


def test_range_keeps_the_forecast_made_on_its_last_day():
    prices, preds = make_frames(12)
    end = prices["date"].iloc[5]
    shown, forecasts = dashboard.cut_to_range(prices, preds, prices["date"].iloc[2], end)
    assert shown["date"].max() == end
    assert forecasts["as_of_date"].max() == end
    assert forecasts["target_date"].max() == prices["date"].iloc[6]


def test_as_of_cuts_the_view_to_what_was_known_that_day():
    prices, preds = make_frames(12)
    as_of = prices["date"].iloc[5]
    cut_prices, cut_preds, cut_evals = dashboard.cut_to_as_of(prices, preds, preds, as_of)
    assert cut_prices["date"].max() == as_of
    assert cut_preds["as_of_date"].max() == as_of
    assert cut_evals["target_date"].max() == as_of


# --- the page as a whole -------------------------------------------------------------------------


def test_missing_database_shows_one_sentence_and_creates_nothing(outputs):
    view = dashboard_app.Dashboard(config.load_settings())
    assert view.message == dashboard.NO_DATA == "no data yet: run `make run`"
    assert not (outputs / "stockcast.db").exists()
    assert "no data yet: run <code>make run</code>" in dashboard.no_data_html()


def test_empty_database_shows_the_same_sentence(outputs):
    store.connect(config.load_settings().db_url)  # tables, no rows
    assert dashboard_app.Dashboard(config.load_settings()).message == dashboard.NO_DATA


def test_missing_mlflow_store_is_no_train_yet_and_is_not_created(outputs):
    assert leaderboard.load_train_runs(config.load_settings()).empty
    assert not (outputs / "mlflow.db").exists()


def test_unreachable_database_gives_one_line(outputs, monkeypatch):
    monkeypatch.setenv("STOCKCAST_DB_URL", "postgresql+psycopg://nobody:secret@127.0.0.1:9/x")
    message = dashboard_app.Dashboard(config.load_settings()).message
    assert "unreachable" in message and "secret" not in message and "\n" not in message


def test_notebook_on_an_empty_database_shows_only_the_sentence(outputs, tmp_path):
    import papermill

    from runner.execute import ensure_kernel

    executed = tmp_path / "dashboard.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS_DIR / "dashboard.ipynb"),
        str(executed),
        kernel_name=ensure_kernel(),
        progress_bar=False,
        cwd=str(NOTEBOOKS_DIR),
    )
    outputs_seen = [
        o for c in json.loads(executed.read_text())["cells"] for o in c.get("outputs", [])
    ]
    assert [o["output_type"] for o in outputs_seen] == ["display_data"]
    assert "no data yet" in "".join(outputs_seen[0]["data"]["text/html"])


@pytest.mark.pipeline
def test_snapshot_view_shows_every_tickers_stored_forecast(pipeline, monkeypatch):
    monkeypatch.setenv("STOCKCAST_OUTPUTS", str(pipeline.outputs))
    shown = []
    monkeypatch.setattr(dashboard_app, "display", lambda obj, **_: shown.append(obj))
    view = dashboard_app.Dashboard(config.load_settings(), static=True)
    assert view.message is None and view.tickers == ["AAPL", "GOOG", "IBM", "MSFT"]
    preds = store.load_predictions(store.connect(pipeline.db_url))
    for ticker, rows in preds[preds["is_champion"]].groupby("ticker"):
        latest = rows.sort_values("target_date").iloc[-1]
        assert f"{latest['pred_close']:,.2f}" in view.headline(ticker)
        assert "(champion)" in view.leaderboard(ticker)
    for show in ("controls", "headline", "prices", "track_record", "leaderboard", "runs"):
        getattr(view, f"show_{show}")()
    figures = [o for o in shown if isinstance(o, dict) and PLOTLY_MIME in o]
    assert len(figures) == 2 * len(view.tickers)  # a price and a track-record figure each


# --- the served dashboard's plumbing -------------------------------------------------------------


def test_a_slow_or_failing_mlflow_read_gives_one_line():
    import subprocess
    import sys

    slow = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with pytest.raises(RuntimeError, match="MLflow did not answer within 1 s"):
        leaderboard.collect_train_runs(slow, timeout=1)
    assert slow.poll() is not None  # stopped, not left behind
    failing = subprocess.Popen(
        [sys.executable, "-c", "raise ConnectionError('store is gone')"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with pytest.raises(RuntimeError, match=r"^ConnectionError: store is gone$"):
        leaderboard.collect_train_runs(failing)


def test_kernels_end_by_what_their_page_does():
    from datetime import timedelta

    from runner.dashboard import DashboardKernels, should_cull

    limits = DashboardKernels(cull_idle_timeout=60, cull_busy_timeout=240)
    limits.cull_open_page_timeout = 900
    minutes = lambda n: timedelta(minutes=n)  # noqa: E731
    assert should_cull("dead", 1, minutes(0), limits)
    assert not should_cull("idle", 0, minutes(0.5), limits)  # the page may still connect
    assert should_cull("idle", 0, minutes(2), limits)  # its visitor left without a word
    assert not should_cull("busy", 0, minutes(2), limits)  # a page still rendering
    assert should_cull("busy", 0, minutes(5), limits)  # a cell that never ends
    assert not should_cull("idle", 1, minutes(10), limits)  # an open page in use
    assert should_cull("idle", 1, minutes(20), limits)  # an open tab forgotten


def test_token_comes_from_the_flag_or_the_environment_and_leaves_it(monkeypatch):
    from runner.dashboard import TOKEN_VARIABLE, _is_token_flag, read_token

    monkeypatch.setenv(TOKEN_VARIABLE, "from-env")
    assert read_token(None) == "from-env"
    assert TOKEN_VARIABLE not in __import__("os").environ  # kernels do not inherit it
    monkeypatch.setenv(TOKEN_VARIABLE, "from-env")
    assert read_token("from-flag") == "from-flag"
    assert read_token(None) is None
    assert all(map(_is_token_flag, ["--token", "--token=x", "--tok", "--t=x"]))
    assert not any(map(_is_token_flag, ["--", "--port", "--host=x", "x--token", "dashboard"]))


def test_the_token_is_dropped_from_a_request_once_it_logged_in():
    from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

    from runner.dashboard import drop_token_from_request

    line = RequestStartLine("GET", "/?token=s3cret&theme=dark", "HTTP/1.1")
    request = HTTPServerRequest(start_line=line, headers=HTTPHeaders({"Host": "127.0.0.1"}))
    drop_token_from_request(request)
    assert (request.uri, request.query) == ("/?theme=dark", "theme=dark")
    assert "token" not in request.arguments and "s3cret" not in request.full_url()
