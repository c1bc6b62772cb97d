"""The bench tool's bookkeeping: stage times read from the runner's log, reports merged."""

from __future__ import annotations

import argparse

import pytest

from bench.__main__ import merge, parse_parts, to_markdown
from bench.chains import read_log

LOG = [
    (100.0, "starting"),
    (103.0, "run demo-20260101T000000Z-abc123: demo as of 2013-03-01 for AAPL; reports in /x"),
    (110.0, "[ingest] ok in 7s"),
    (111.0, "[tune-alerted] skipped: no performance-drop alert to act on"),
    (125.5, "[train-backfill] ok in 14s; failed so far: IBM"),
    (130.0, "[predict] FAILED: 05_predict.ipynb failed at cell 3"),
    (131.0, "run demo-20260101T000000Z-abc123 failed: /x/run.json"),
]


def test_stages_are_timed_between_the_runners_log_lines():
    run_id, started, stages = read_log(LOG)
    assert run_id == "demo-20260101T000000Z-abc123"
    assert started == 103.0
    assert [(s["stage"], s["outcome"], s["start"], s["end"]) for s in stages] == [
        ("ingest", "ok", 103.0, 110.0),
        ("tune-alerted", "skipped", 110.0, 111.0),
        ("train-backfill", "ok", 111.0, 125.5),
        ("predict", "FAILED", 125.5, 130.0),
    ]


def test_a_log_without_a_run_line_has_no_stages():
    assert read_log([(1.0, "[ingest] ok in 7s")]) == (None, None, [])


def test_a_partial_bench_keeps_the_other_sections():
    previous = {"demo": {"wall_seconds": 120.0}, "synthetic": {"tickers": 50}, "machine": {}}
    merged = merge(previous, {"demo": {"wall_seconds": 99.0}})
    assert merged["demo"] == {"wall_seconds": 99.0}
    assert merged["synthetic"] == {"tickers": 50}
    assert merged["machine"]["cpus"] >= 1


def test_the_table_lists_only_the_measured_chains():
    demo = {
        "wall_seconds": 100.0,
        "startup_seconds": 4.0,
        "closing_seconds": 20.0,
        "peak_rss_mb": 600.0,
        "stages": [{"stage": "ingest", "seconds": 7.0, "peak_rss_mb": 350.0}],
    }
    table = to_markdown({"demo": demo})
    assert "| demo (4 sample tickers) | ingest | 7.0 | 350.0 |" in table
    assert "| demo (4 sample tickers) | (start-up) | 4.0 | |" in table
    assert "| demo (4 sample tickers) | (closing) | 20.0 | |" in table
    assert "**100.0**" in table
    assert "synthetic" not in table


def test_an_unknown_part_is_refused():
    assert parse_parts("demo, backfill") == ["demo", "backfill"]
    with pytest.raises(argparse.ArgumentTypeError, match="unknown part nope"):
        parse_parts("demo,nope")
