"""The runner's command line: bad input exits 2 in one line and writes nothing; status; prune."""

from __future__ import annotations

import json

import pytest

from runner.cli import main
from runner.runs import new_run_id, prune
from stockcast import store

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"
GOOD_ROWS = "".join(f"2013-02-{day:02d},10,11,9,10.5,10.5,1000\n" for day in (25, 26, 27, 28))


def _csv_dir(tmp_path, **files):
    folder = tmp_path / "csv"
    folder.mkdir()
    for ticker, text in files.items():
        (folder / f"{ticker}.csv").write_text(text)
    return folder


def _nothing_written(outputs):
    return not (outputs / "runs").exists() and not (outputs / "stockcast.db").exists()


@pytest.mark.parametrize(
    "ticker",
    [
        "AAPL'; DROP TABLE stock_price;--",
        "../../etc/passwd",
        "X\nimport os",
    ],
)
def test_hostile_tickers_exit_2_and_write_nothing(outputs, capsys, ticker):
    assert main(["daily", "--tickers", ticker]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ticker") and "is not a valid symbol" in err
    assert err.count("\n") == 1
    assert _nothing_written(outputs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Date,Open,Close,Volume\n2013-02-28,1,2,3\n", "MSFT.csv is missing columns High, Low"),
        ("", "MSFT.csv is empty"),
        (HEADER + "2013-02-28,10,11,9,abc,10.5,1000\n", "non-numeric Close on 2013-02-28"),
        (HEADER + GOOD_ROWS + "2013-02-28,10,11,9,10.5,10.5,1000\n", "duplicated date"),
        (HEADER + "2013-02-28,10,11,9,-10.5,10.5,1000\n", "non-positive"),
    ],
)
def test_a_bad_csv_exits_2_in_one_line_and_writes_nothing(
    outputs, tmp_path, capsys, text, expected
):
    folder = _csv_dir(tmp_path, MSFT=text)
    assert main(["daily", "--source", "csv", "--csv-dir", str(folder)]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1
    assert _nothing_written(outputs)


def test_unknown_sample_ticker_is_named(outputs, capsys):
    assert main(["daily", "--tickers", "XYZ"]) == 2
    assert (
        "unknown ticker 'XYZ' in the sample: it has AAPL, GOOG, IBM, MSFT"
        in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["daily", "--as-of", "2013-03-02"], "use 2013-03-01, the previous session"),
        (["daily", "--as-of", "2999-01-04"], "has not closed yet"),
        (["daily", "--as-of", "yesterday-ish"], "is not a date"),
        (["backfill", "--start", "2013-02-01", "--end", "2013-01-01"], "is after --end"),
        (["daily", "--source", "csv"], "--csv-dir"),
        (["daily", "--tickers", "ABC.ZZ"], "no exchange calendar"),
        (["--config", "/no/such.yaml", "daily"], "does not exist"),
    ],
)
def test_bad_usage_exits_2(outputs, capsys, args, expected):
    assert exit_code(args) == 2
    assert expected in capsys.readouterr().err
    assert _nothing_written(outputs)


def exit_code(args) -> int:
    """main's status, including argparse's own exit for a malformed flag."""
    try:
        return main(args)
    except SystemExit as exc:
        return exc.code


def test_unreachable_database_exits_2_with_the_password_masked(outputs, monkeypatch, capsys):
    monkeypatch.setenv("STOCKCAST_DB_URL", "postgresql+psycopg://u:s3cret@127.0.0.1:1/none")
    assert main(["daily", "--tickers", "AAPL"]) == 2
    err = capsys.readouterr().err
    assert "u:***@127.0.0.1:1/none" in err and "s3cret" not in err
    assert err.count("\n") == 1
    assert not (outputs / "runs").exists()


def test_status_names_failed_tickers(outputs, capsys):
    from stockcast.config import load_settings

    engine = store.connect(load_settings().db_url)
    store.start_run(engine, "daily-20130301T220000Z-abc123", "daily", "2013-03-01", "/r")
    store.record_outcomes(
        engine,
        "daily-20130301T220000Z-abc123",
        "ingest",
        ["AAPL", "MSFT"],
        {"MSFT": "rate limited by Yahoo after 4 attempts"},
    )
    store.finish_run(engine, "daily-20130301T220000Z-abc123", "partial")
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "daily-20130301T220000Z-abc123" in out and "partial" in out
    assert "MSFT: failed at ingest: rate limited by Yahoo after 4 attempts" in out


def test_prune_keeps_the_newest(tmp_path):
    runs = tmp_path / "runs"
    ids = [
        "daily-20130301T220000Z-aaaaaa",
        "weekly-20130303T100000Z-bbbbbb",
        "demo-20130302T090000Z-cccccc",
    ]
    for run_id in ids:
        (runs / run_id).mkdir(parents=True)
        (runs / run_id / "run.json").write_text(json.dumps({"run_id": run_id}))
    deleted = prune(runs, keep=2)
    assert [p.name for p in deleted] == ["daily-20130301T220000Z-aaaaaa"]
    assert sorted(p.name for p in runs.iterdir()) == sorted(ids[1:])


def test_run_ids_sort_by_time_and_name_their_kind():
    run_id = new_run_id("daily")
    kind, stamp, short = run_id.split("-")
    assert kind == "daily" and stamp.endswith("Z") and len(short) == 6


def test_a_drop_alert_makes_the_next_daily_run_retune_that_ticker(outputs):
    from runner.chain import _skip_reason
    from runner.stages import RETUNE
    from stockcast.config import load_settings

    engine = store.connect(load_settings().db_url)
    common = {"tickers": ["AAPL", "MSFT"]}
    reason, _ = _skip_reason(RETUNE, engine, common)
    assert reason == "no performance-drop alert to act on"
    store.start_run(engine, "daily-20130228T220000Z-aaaaaa", "daily", "2013-02-28", "/r")
    store.record_items(
        engine,
        "daily-20130228T220000Z-aaaaaa",
        "alert",
        {"MSFT": ("alert", "MSFT: champion 8% behind naive: retune MSFT")},
    )
    reason, retune = _skip_reason(RETUNE, engine, common)
    assert reason is None and retune["tickers"] == ["MSFT"]
