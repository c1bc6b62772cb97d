"""The store on SQLite and PostgreSQL: schema, upserts, champion flag, run records, errors."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from stockcast import store
from stockcast.errors import DatabaseUnavailable


def _prices(ticker="AAPL", days=("2013-02-27", "2013-02-28", "2013-03-01"), close=10.0):
    n = len(days)
    return pd.DataFrame(
        {
            "ticker": [ticker] * n,
            "date": pd.to_datetime(list(days)),
            "open": [close] * n,
            "high": [close + 1] * n,
            "low": [close - 1] * n,
            "close": [close] * n,
            "adj_close": [close / 2] * n,
            "volume": [1e6] * n,
            "dividends": [0.0] * n,
            "stock_splits": [0.0] * n,
        }
    )


def _preds(champion="ridge", target="2013-03-04", ticker="AAPL"):
    models = ["naive", "ridge", "xgboost"]
    return pd.DataFrame(
        {
            "ticker": ticker,
            "target_date": pd.Timestamp(target),
            "model": models,
            "as_of_date": pd.Timestamp("2013-03-01"),
            "pred_close": [10.0, 10.5, 9.5],
            "pred_lower": [9.0, 9.5, 8.5],
            "pred_upper": [11.0, 11.5, 10.5],
            "is_champion": [m == champion for m in models],
            "model_version": "3",
        }
    )


def test_migration_creates_the_six_tables_with_their_keys(db_url):
    engine = store.connect(db_url)
    inspector = sa.inspect(engine)
    keys = {
        t: inspector.get_pk_constraint(t)["constrained_columns"]
        for t in inspector.get_table_names()
        if t != "alembic_version"
    }
    assert keys == {
        "stock_price": ["ticker", "date"],
        "stock_pred": ["ticker", "target_date", "model"],
        "stock_pred_eval": ["ticker", "target_date", "model"],
        "model_params": ["ticker", "model", "tuned_as_of"],
        "pipeline_run": ["run_id"],
        "run_item": ["run_id", "stage", "ticker"],
    }
    columns = {c["name"]: c["type"] for c in inspector.get_columns("stock_pred")}
    assert isinstance(columns["target_date"], sa.Date)
    assert isinstance(columns["is_champion"], sa.Boolean)
    store.connect(db_url)  # applying the migrations again is a no-op


def test_saving_prices_twice_leaves_the_same_rows(db_url):
    engine = store.connect(db_url)
    first = store.save_prices(engine, _prices(), "sample")
    again = store.save_prices(engine, _prices(), "sample")
    assert first["rows_added"].tolist() == [3]
    assert again["rows_added"].tolist() == [0]
    stored = store.load_prices(engine)
    assert len(stored) == 3
    assert stored["date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2013-02-27",
        "2013-02-28",
        "2013-03-01",
    ]
    assert stored["close"].tolist() == [10.0] * 3


def test_refresh_replaces_the_history_whole(db_url):
    engine = store.connect(db_url)
    store.save_prices(engine, _prices(), "sample")
    store.save_prices(engine, _prices(days=("2013-03-01",), close=20.0), "csv", refresh=["AAPL"])
    stored = store.load_prices(engine)
    assert stored["date"].tolist() == [pd.Timestamp("2013-03-01")]
    assert stored["close"].tolist() == [20.0]
    assert stored["source"].tolist() == ["csv"]


def test_one_champion_per_target_and_a_rewrite_moves_it(db_url):
    engine = store.connect(db_url)
    store.save_predictions(engine, _preds("ridge"), "run-1")
    store.save_predictions(engine, _preds("naive").iloc[[0]], "run-2")  # only naive rewritten
    stored = store.load_predictions(engine)
    assert len(stored) == 3
    assert stored.loc[stored["is_champion"], "model"].tolist() == ["naive"]
    assert stored["target_date"].iloc[0] == pd.Timestamp("2013-03-04")
    assert stored["as_of_date"].iloc[0] == pd.Timestamp("2013-03-01")


def test_a_backfill_sets_champions_in_one_update_per_ticker(db_url):
    engine = store.connect(db_url)
    sessions = pd.bdate_range("2013-03-04", periods=30)
    champions = ["ridge", "xgboost", "naive"] * 10
    preds = pd.concat(
        _preds(champion, target=str(day.date()), ticker=ticker)
        for ticker in ("AAPL", "MSFT")
        for day, champion in zip(sessions, champions, strict=True)
    )
    store.save_predictions(engine, preds, "run-1")
    updates = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: updates.append(a[2]))
    rewrite = preds[(preds["model"] == "naive") & (preds["target_date"] <= sessions[9])]
    store.save_predictions(engine, rewrite.assign(is_champion=True), "run-2")
    assert sum(sql.lstrip().upper().startswith("UPDATE") for sql in updates) == 2
    stored = store.load_predictions(engine).sort_values(["ticker", "target_date", "model"])
    served = stored[stored["is_champion"]].set_index(["ticker", "target_date"])["model"]
    assert len(stored) == 2 * 30 * 3 and len(served) == 2 * 30  # one champion per target
    expected = ["naive"] * 10 + champions[10:]
    assert served.loc["AAPL"].tolist() == expected
    assert served.loc["MSFT"].tolist() == expected


def test_evaluations_join_their_prediction(db_url):
    engine = store.connect(db_url)
    store.save_predictions(engine, _preds("ridge"), "run-1")
    evals = pd.DataFrame(
        {
            "ticker": "AAPL",
            "target_date": pd.Timestamp("2013-03-04"),
            "model": ["naive", "ridge", "xgboost"],
            "pred_close": [10.0, 10.5, 9.5],
            "true_close": 10.2,
            "abs_error": [0.2, 0.3, 0.7],
            "pct_error": [1.96, 2.94, 6.86],
            "inside_interval": [True, True, False],
        }
    )
    store.save_evaluations(engine, evals, "run-1")
    store.save_evaluations(engine, evals, "run-2")
    stored = store.load_evaluations(engine, ["AAPL"])
    assert len(stored) == 3
    assert stored.set_index("model").loc["ridge", "is_champion"]
    assert stored["run_id"].unique().tolist() == ["run-2"]


def test_params_are_json_and_filtered_by_tuning_date(db_url):
    engine = store.connect(db_url)
    tuned = pd.DataFrame(
        {
            "ticker": "AAPL",
            "model": "ridge",
            "tuned_as_of": pd.to_datetime(["2013-01-04", "2013-02-01"]),
            "params": [{"alpha": 1.0}, {"alpha": 10.0}],
            "cv_rmse": [0.02, 0.019],
        }
    )
    store.save_params(engine, tuned, "weekly-1")
    before = store.load_params(engine, ["AAPL"], as_of="2013-01-31")
    assert before["params"].tolist() == [{"alpha": 1.0}]
    assert len(store.load_params(engine)) == 2


def test_run_records_alerts_and_abandoned_runs(db_url):
    engine = store.connect(db_url)
    store.start_run(engine, "daily-1", "daily", "2013-03-01", "/tmp/daily-1")
    store.record_outcomes(engine, "daily-1", "ingest", ["AAPL", "MSFT"], {"MSFT": "no rows"})
    store.record_items(engine, "daily-1", "alert", {"AAPL": ("alert", "behind naive")})
    assert store.pending_retunes(engine) == ["AAPL"]
    assert store.mark_abandoned(engine) == ["daily-1"]
    runs = store.recent_runs(engine)
    assert runs["status"].tolist() == ["abandoned"]
    items = store.run_items(engine, ["daily-1"])
    assert items.set_index(["stage", "ticker"]).loc[("ingest", "MSFT"), "error"] == "no rows"
    store.start_run(engine, "weekly-2", "weekly", "2013-03-01", "/tmp/weekly-2")
    tuned = pd.DataFrame(
        {
            "ticker": ["AAPL"],
            "model": ["ridge"],
            "tuned_as_of": [pd.Timestamp("2013-03-01")],
            "params": [{"alpha": 1.0}],
            "cv_rmse": [0.02],
        }
    )
    store.save_params(engine, tuned, "weekly-2")
    assert store.pending_retunes(engine) == []


def test_unreachable_database_is_one_line_with_the_password_masked():
    url = "postgresql+psycopg://stock:s3cret@127.0.0.1:1/nowhere"
    with pytest.raises(DatabaseUnavailable) as caught:
        store.connect(url)
    message = str(caught.value)
    assert "s3cret" not in message
    assert "postgresql+psycopg://stock:***@127.0.0.1:1/nowhere" in message
    assert "\n" not in message


def test_bad_database_url_is_reported_not_raised_raw(tmp_path):
    with pytest.raises(DatabaseUnavailable, match="unreachable"):
        store.connect(f"sqlite:///{tmp_path}/no/such/dir/../../../{'x' * 5}/\0.db")


def test_read_only_connections_cannot_write(db_url):
    engine = store.connect(db_url)
    store.save_prices(engine, _prices(), "sample")
    reader = store.connect_read_only(db_url)
    assert len(store.load_prices(reader)) == 3
    with pytest.raises(sa.exc.DBAPIError):
        store.save_prices(reader, _prices(close=99.0), "sample")
    assert store.load_prices(engine)["close"].tolist() == [10.0] * 3


def test_read_only_never_creates_a_missing_database(tmp_path):
    with pytest.raises(DatabaseUnavailable, match="does not exist yet: run `make run`"):
        store.connect_read_only(f"sqlite:///{tmp_path / 'none.db'}")
    assert not (tmp_path / "none.db").exists()


def test_paged_reads_and_latest_predictions(db_url):
    engine = store.connect(db_url)
    store.save_prices(engine, _prices(), "sample")
    store.save_predictions(engine, _preds("ridge", target="2013-03-01"), "run-1")
    store.save_predictions(engine, _preds("naive", target="2013-03-04"), "run-2")
    page = store.load_predictions(engine, ["AAPL"], limit=2, offset=1)
    assert len(page) == 2 and store.count_predictions(engine, "AAPL") == 6
    assert store.has_ticker(engine, "AAPL") and not store.has_ticker(engine, "MSFT")
    latest = store.latest_predictions(engine, "AAPL")
    assert set(latest["target_date"]) == {pd.Timestamp("2013-03-04")}
    assert latest["as_of_close"].tolist() == [10.0] * 3
