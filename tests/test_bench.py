"""The bench tool's bookkeeping: stage times read from the runner's log, reports merged; the
scale part's measures, ratios and verdicts at a tiny size (never a timing asserted)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bench import chains, scale, scale_report
from bench.__main__ import merge, parse_measures, parse_parts, scale_saver, to_markdown
from bench.chains import read_log
from bench.synthetic import make_synthetic_universe

TINY_GRIDS = {"ridge": {"alpha": [1.0]}, "xgboost": {"max_depth": [2], "n_estimators": [10]}}

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


# --- the scale part (bench/scale.py, bench/scale_report.py), at a tiny size, runs faked ---------


def fake_chain(stage_seconds: dict[str, float], wall: float, peak: float = 500.0) -> dict:
    """What run_chain returns, with the given seconds per stage."""
    stages = [
        {"stage": name, "outcome": "ok", "seconds": s, "notebook_seconds": s, "peak_rss_mb": peak}
        for name, s in stage_seconds.items()
    ]
    return {"command": "x", "run_id": "r", "wall_seconds": wall, "startup_seconds": 1.0,
            "closing_seconds": 1.0, "peak_rss_mb": peak, "stages": stages}  # fmt: skip


def fake_pair(n_tickers: int, train_s: float, tune_s: float) -> dict:
    """A weekly+daily pair whose per-ticker seconds are set by hand."""
    weekly = fake_chain({"ingest": 10.0, "tune": tune_s, "train": train_s}, wall=100.0)
    daily = fake_chain({"ingest": 10.0, "tune-alerted": 0.0, "train": train_s}, wall=50.0)
    for chain in (weekly, daily):
        chain["per_ticker_s"] = scale.per_ticker_seconds(chain, n_tickers)
    return {"tickers": n_tickers, "weekly": weekly, "daily": daily}


def test_per_ticker_ratios_and_the_fixed_and_marginal_split():
    small, large = fake_pair(50, train_s=60.0, tune_s=100.0), fake_pair(500, 510.0, 1000.0)
    ratios = scale.per_ticker_ratios(small, large)
    # train: 60/50 = 1.2 s a ticker, then 510/500 = 1.02: ratio 0.85; tune flat; ingest 0.1
    assert ratios["weekly"] == {"ingest": 0.1, "tune": 1.0, "train": 0.85}
    assert "tune-alerted" not in ratios["daily"]  # skipped at both sizes: no ratio
    split = scale.fixed_and_marginal(small, large)
    assert split["weekly"]["train"] == {"fixed_s": 10.0, "marginal_s": 1.0}
    assert split["weekly"]["ingest"] == {"fixed_s": 10.0, "marginal_s": 0.0}


def test_targets_are_judged_pass_or_miss_in_both_directions():
    small, large = fake_pair(50, 60.0, 100.0), fake_pair(500, 510.0, 1000.0)
    large["weekly"]["wall_seconds"] = 1000.0  # over the 900 s target
    chains = {
        "large": large,
        "small": small,
        "per_ticker_ratio": scale.per_ticker_ratios(small, large),
    }
    backfill = {"peak_rss_mb": 5000.0}
    executors = {"speedup_1_to_2": 1.7, "dask_vs_processes": 1.3}
    rows = scale_report.check_targets(
        {"chains": chains, "backfill": backfill, "executors": executors}
    )
    verdicts = {row["target"]: row["verdict"] for row in rows}
    assert verdicts["daily wall, 500 tickers (s)"] == "PASS"
    assert verdicts["weekly wall, 500 tickers (s)"] == "MISS"
    assert verdicts["peak memory, runner and its kernels (MB)"] == "MISS"  # the backfill's
    assert verdicts["weekly tune: s/ticker ratio 50->500"] == "PASS"
    assert verdicts["weekly train: s/ticker ratio 50->500"] == "PASS"  # 0.85: on the edge
    assert verdicts["weekly ingest: s/ticker ratio 50->500"] == "MISS"  # falls: fixed cost
    assert verdicts["train speedup, 1 -> 2 processes"] == "PASS"
    assert verdicts["train, dask LocalCluster(2) / processes(2)"] == "MISS"


def test_a_failed_measure_is_reported_and_judged_on_nothing():
    report = {"label": "SYNTHETIC", "tickers": 3, "sessions": 300, "chains": {"error": "boom"}}
    assert scale_report.check_targets(report) == []
    assert "chains FAILED: boom" in scale_report.summarize_scale(report)


def flag(args: list[str], name: str) -> str | None:
    """The value after `name` in a command line, or None."""
    return args[args.index(name) + 1] if name in args else None


@pytest.fixture
def tiny_universe(sample_prices):
    return make_synthetic_universe(sample_prices, 3, 300)


def test_the_scale_part_runs_every_measure_and_saves_after_each(
    tiny_universe, tmp_path, monkeypatch
):
    """Chains and executors faked (their own runs take minutes), the floor for real."""
    calls = []

    def run_chain(args, outputs):
        csvs = len(list(Path(flag(args, "--csv-dir")).glob("*.csv")))
        calls.append((args[0], flag(args, "--as-of"), flag(args, "--start"), csvs))
        return fake_chain({"ingest": 2.0, "train": 3.0}, wall=6.0)

    def time_fit(features, executor):
        seconds = {"processes": 10.0 / executor.size, "dask": 6.0}[executor.kind]
        return {"executor": executor.describe(), "seconds": seconds}

    monkeypatch.setattr(scale, "run_chain", run_chain)
    monkeypatch.setattr(scale, "time_fit", time_fit)
    monkeypatch.setattr(scale, "close_dask", lambda workers: None)
    saved = []
    options = {"small": 2, "backfill_sessions": 3, "floor_tickers": 1, "grids": TINY_GRIDS}
    report = scale.measure_scale(
        tiny_universe, tmp_path, list(scale.MEASURES), options, lambda r: saved.append(dict(r))
    )
    dates = scale.session_dates(tiny_universe)
    assert calls == [
        ("weekly", dates[-2], None, 3),
        ("daily", dates[-1], None, 3),
        ("weekly", dates[-2], None, 2),
        ("daily", dates[-1], None, 2),
        ("backfill", None, dates[-4], 3),
    ]
    assert [list(s)[3:] for s in saved] == [list(scale.MEASURES)[:n] for n in range(5)]
    assert report["label"].startswith("SYNTHETIC")
    assert (report["tickers"], report["sessions"]) == (3, 300)
    assert report["chains"]["large"]["weekly"]["per_ticker_s"] == {"ingest": 0.6667, "train": 1.0}
    assert report["chains"]["per_ticker_ratio"]["daily"] == {"ingest": 0.667, "train": 0.667}
    assert report["executors"]["speedup_1_to_2"] == 2.0
    assert report["executors"]["dask_vs_processes"] == 1.2
    floor = report["floor"]
    assert floor["tickers"] == 1
    assert floor["weekly_s_per_ticker"] == pytest.approx(sum(floor["mean_s"].values()), abs=1e-3)
    assert floor["daily_s_per_ticker"] < floor["weekly_s_per_ticker"]
    assert report["backfill"]["sessions"] == 3
    comparison = scale_report.floor_comparison(report)
    assert comparison[0]["chain_s_per_ticker"] == 2.0  # weekly wall 6 s over 3 tickers
    assert "| weekly | train |" in scale_report.summarize_scale(report)


def test_a_saved_scale_section_keeps_earlier_measures_of_the_same_size(outputs):
    save = scale_saver({"tickers": 3, "sessions": 300, "floor": {"old": 1}})
    save({"label": "S", "tickers": 3, "sessions": 300, "executors": {"speedup_1_to_2": 2.0}})
    kept = json.loads((outputs / "bench.json").read_text())["scale"]
    assert kept["floor"] == {"old": 1}
    assert kept["executors"]["speedup_1_to_2"] == 2.0
    assert "git_commit" in kept["executors"]
    save = scale_saver(kept)  # another size: the earlier measures do not apply
    save({"label": "S", "tickers": 500, "sessions": 1500})
    assert "floor" not in json.loads((outputs / "bench.json").read_text())["scale"]


def test_an_unknown_measure_is_refused():
    assert parse_measures("floor,chains") == ["floor", "chains"]
    with pytest.raises(argparse.ArgumentTypeError, match="unknown measure nope"):
        parse_measures("nope")


def code_cell(source: str, seconds: float, stderr: str = "") -> dict:
    outputs = [{"output_type": "stream", "name": "stderr", "text": stderr}] if stderr else []
    return {"cell_type": "code", "source": source, "outputs": outputs,
            "metadata": {"papermill": {"duration": seconds}}}  # fmt: skip


def test_an_executed_notebooks_time_is_split_by_what_its_cells_call(tmp_path):
    bar = (
        "progress fit_ticker on 2 local processes: {p}% |#| {n} of 500 tickers done, 0 failed, "
        "{t} elapsed, 00:10 left\r"
    )
    cells = [
        code_cell("from stockcast import store, tracking, train", 8.0),
        code_cell("engine = store.connect(url)", 0.5),
        code_cell(
            "log = tracking.TrainingLog(params, run_id, {})\n"
            "trained = train.fit_tickers(features, then=log)",
            300.0,
            bar.format(p=50, n=250, t="02:00") + bar.format(p=100, n=500, t="1:04:10"),
        ),
        code_cell("train.scores_table(trained)", 1.5),
        {"cell_type": "markdown", "source": "## Scores", "metadata": {}},
    ]
    path = tmp_path / "04_train.ipynb"
    path.write_text(json.dumps({"cells": cells}))
    found = chains.notebook_cells(path)
    assert [c["calls"] for c in found] == [[], ["database"], ["mlflow"], []]
    assert found[2]["maps"] == [
        {"map": "fit_ticker on 2 local processes", "done": 500, "total": 500, "seconds": 3850}
    ]
    split = chains.where_time_goes(found)
    assert split["imports_s"] == 8.0
    assert (split["mlflow_cells_s"], split["database_cells_s"], split["other_cells_s"]) == (
        300.0,
        0.5,
        1.5,
    )
    assert split["maps_s"] == {"fit_ticker on 2 local processes": 3850}
