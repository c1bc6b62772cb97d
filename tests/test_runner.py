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
        (["daily", "--as-of", ""], "'' is not a date: use YYYY-MM-DD"),
        (["daily", "--as-of", " "], "' ' is not a date: use YYYY-MM-DD"),
        (["daily", "--as-of", "2013-02-30"], "'2013-02-30' is not a date"),
        (["daily", "--as-of", "01/03/2013"], "'01/03/2013' is not a date"),
        (["backfill", "--start", "", "--end", "2013-03-01"], "'' is not a date"),
        (["backfill", "--start", "2013-01-02", "--end", ""], "'' is not a date"),
        (["status", "--limit", "-1"], "'-1' is not a count"),
        (["dashboard", "--port", "70000"], "'70000' is not a port"),
        (["daily", "--tickers", "AAPL", "--csv-dir", "/tmp"], "--csv-dir is for --source csv"),
        ([], "required: command"),
    ],
)
def test_bad_usage_exits_2_in_one_line(outputs, capsys, args, expected):
    assert exit_code(args) == 2
    err = capsys.readouterr().err
    assert expected in err and err.startswith("error: ") and err.count("\n") == 1, err
    assert _nothing_written(outputs)


def test_a_csv_dir_that_is_a_file_is_named_as_a_file(outputs, tmp_path, capsys):
    path = tmp_path / "AAPL.csv"
    path.write_text(HEADER + GOOD_ROWS)
    assert main(["daily", "--source", "csv", "--csv-dir", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"--csv-dir {path} is a file, not a folder" in err and err.count("\n") == 1
    assert _nothing_written(outputs)


# --- pipeline settings: every value checked before the lock, a bad file writes nothing ---------

RUNNING = "daily-20130228T220000Z-aaaaaa"


@pytest.mark.parametrize(
    ("command", "text", "expected"),
    [
        ("daily", "tickers: 5\n", "tickers must be a list of symbols or a universe, not 5"),
        ("daily", "ingest: [1, 2]\n", "ingest must be a mapping of settings, not a list"),
        ("demo", "demo: {backfill_sessions: abc}\n", "demo.backfill_sessions must be a whole"),
        ("demo", "demo: {backfill_sessions: 0}\n", "demo.backfill_sessions must be at least 1"),
        ("demo", "demo: {backfill_sessions: 100000}\n", "backfill_sessions 100000 is more than"),
        ("daily", "ingest: {overlap_days: abc}\n", "ingest.overlap_days must be a whole number"),
        ("daily", "ingest: {overlap: 3}\n", "ingest.overlap is not a setting: use overlap_days"),
        ("daily", "train: {as_of: 2013-03-01}\n", "train.as_of is set by the runner"),
        ("weekly", "tune: {grids: {ridge: {alpha: 1}}}\n", "tune.grids.ridge.alpha must be a list"),
        ("daily", "predict: {mode: backfill}\n", "predict.mode is set by the runner"),
        ("daily", "reports: {}\n", "reports is not a section"),
        ("daily", "source: yahoo\n", "source must be one of sample, csv, yfinance"),
        ("daily", "- a\n- b\n", "must hold a mapping of settings, not list"),
        ("daily", "ingest: {overlap_days: [1\n", "is not valid YAML"),
    ],
)
def test_a_bad_settings_file_exits_2_before_the_lock_and_writes_nothing(
    outputs, tmp_path, capsys, command, text, expected
):
    from stockcast.config import load_settings

    engine = store.connect(load_settings().db_url)  # a run that is still running: not touched
    store.start_run(engine, RUNNING, "daily", "2013-02-28", "/r")
    before = store.recent_runs(engine).drop(columns="started_at")
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    args = ["--config", str(config), command] + (["--tickers", "AAPL"] if command != "demo" else [])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {config}") and expected in err and err.count("\n") == 1, err
    assert store.recent_runs(engine).drop(columns="started_at").equals(before)
    assert not (outputs / "runs").exists() and not (outputs / "stockcast.lock").exists()


def exit_code(args) -> int:
    """main's status, including argparse's own exit for a malformed flag."""
    try:
        return main(args)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize("command", ["daily", "status", "prune"])
@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://u:s3cret@127.0.0.1:1/none", "u:***@127.0.0.1:1/none"),
        ("postgresql+psycopg://u@127.0.0.1:1/none?password=s3cret", "none?password=***"),
        (
            "postgresql+psycopg://u@127.0.0.1:1/none?sslmode=prefer&sslpassword=s3cret",
            "none?sslmode=prefer&sslpassword=***",
        ),
    ],
)
def test_unreachable_database_exits_2_with_the_password_masked(
    outputs, monkeypatch, capsys, command, url, shown
):
    monkeypatch.setenv("STOCKCAST_DB_URL", url)
    args = {"daily": ["daily", "--tickers", "AAPL"], "prune": ["prune", "--keep", "1"]}
    assert main(args.get(command, [command])) == 2
    err = capsys.readouterr().err
    assert shown in err and "s3cret" not in err
    assert err.count("\n") == 1
    assert not (outputs / "runs").exists()


# --- status reads, never creates or migrates -------------------------------------------------


def test_status_without_a_database_says_no_runs_yet_and_creates_none(outputs, capsys):
    assert main(["status"]) == 0
    assert "no runs yet" in capsys.readouterr().out
    assert not (outputs / "stockcast.db").exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty (0 bytes): delete it"),
        (b"this is not a database at all" * 100, "is not a SQLite database"),
    ],
)
def test_status_on_an_empty_or_corrupt_database_names_the_file_and_leaves_it(
    outputs, capsys, content, expected
):
    outputs.mkdir()
    path = outputs / "stockcast.db"
    path.write_bytes(content)
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: database file {path} ") and expected in err, err
    assert err.count("\n") == 1
    assert path.read_bytes() == content


def test_status_on_a_database_of_something_else_is_refused(outputs, capsys):
    import sqlite3

    outputs.mkdir()
    path = outputs / "stockcast.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (x)")
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert f"database file {path} holds no stockcast tables" in err and err.count("\n") == 1


def test_status_on_an_older_schema_asks_for_a_run_and_migrates_nothing(outputs, capsys):
    import sqlalchemy as sa

    from stockcast.config import load_settings

    engine = store.connect(load_settings().db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0000_older'"))
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert "is at schema revision 0000_older" in err and "a run migrates it" in err
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == (
            "0000_older"
        )


def test_status_on_an_empty_postgresql_schema_creates_nothing(pg_url, outputs, monkeypatch, capsys):
    import sqlalchemy as sa

    monkeypatch.setenv("STOCKCAST_DB_URL", pg_url)
    assert main(["status"]) == 0
    assert "no runs yet" in capsys.readouterr().out
    with sa.create_engine(pg_url).connect() as conn:
        assert sa.inspect(conn).get_table_names() == []


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


def test_prune_keeps_a_running_runs_folder(tmp_path):
    runs = tmp_path / "runs"
    for run_id, status in ((RUNNING, "running"), ("daily-20130301T220000Z-bbbbbb", "ok")):
        (runs / run_id).mkdir(parents=True)
        (runs / run_id / "run.json").write_text(json.dumps({"status": status}))
    assert prune(runs, keep=0, running={"daily-20130301T220000Z-bbbbbb"}) == []
    deleted = prune(runs, keep=0)
    assert [p.name for p in deleted] == ["daily-20130301T220000Z-bbbbbb"]
    assert [p.name for p in runs.iterdir()] == [RUNNING]


def test_prune_takes_the_lock_and_exits_3_naming_the_holder(outputs, capsys):
    from runner.lock import hold_lock
    from stockcast.config import load_settings

    settings = load_settings()
    folder = settings.runs_dir / RUNNING
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"status": "ok"}))
    with hold_lock(settings, RUNNING):
        assert main(["prune", "--keep", "0"]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"error: run {RUNNING} (pid ") and err.count("\n") == 1
    assert folder.is_dir()


def test_prune_never_deletes_a_run_whose_row_says_running(outputs, capsys):
    from stockcast.config import load_settings

    settings = load_settings()
    engine = store.connect(settings.db_url)
    store.start_run(engine, RUNNING, "daily", "2013-02-28", "/r")
    for run_id in (RUNNING, "daily-20130301T220000Z-bbbbbb"):
        (settings.runs_dir / run_id).mkdir(parents=True)
        (settings.runs_dir / run_id / "run.json").write_text(json.dumps({"status": "ok"}))
    assert main(["prune", "--keep", "0"]) == 0
    assert [p.name for p in settings.runs_dir.glob("daily-*")] == [RUNNING]
    assert f"kept {RUNNING}: it is still running" in capsys.readouterr().out


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
