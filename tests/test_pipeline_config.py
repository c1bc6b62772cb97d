"""Pipeline settings: every section, key and value checked against the stage notebooks."""

from __future__ import annotations

import pytest

from runner.pipeline_config import check_pipeline_config, section_defaults
from stockcast import config
from stockcast.errors import BadInput

SECTIONS = {
    "ingest": {"overlap_days": 14},
    "train": {
        "train_window": 1000,
        "interval_level": 0.9,
        "serve_rule": {"method": "both", "min_fold_share": 0.8},
    },
    "tune": {"grids": {"ridge": {"alpha": [1.0, 100.0]}}},
    "dashboard": {"static": False, "date_from": None},
    "features": {},
}


def check(settings: dict) -> dict:
    return check_pipeline_config(settings, SECTIONS, "p.yaml")


def test_valid_settings_pass_and_ints_are_accepted_as_floats():
    settings = {
        "source": "csv",
        "tickers": ["aapl", "MSFT"],
        "demo": {"backfill_sessions": 12},
        "ingest": {"overlap_days": 7},
        "train": {"interval_level": 1, "serve_rule": {"min_fold_share": 1}},
        "tune": {"grids": {"ridge": {"alpha": [1, 2.5]}, "xgboost": {"max_depth": [2]}}},
        "dashboard": {"static": True, "date_from": "2013-01-02"},
        "features": None,
    }
    assert check(settings)["tickers"] == ["AAPL", "MSFT"]
    assert check({}) == {}
    assert check({"tickers": "aapl,ibm", "ingest": None})["tickers"] == ["AAPL", "IBM"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"tickers": 5}, "p.yaml: tickers must be a list of symbols or a universe, not 5"),
        (
            {"tickers": ["AAPL", 5]},
            "p.yaml: tickers must be a list of symbols or a universe, not ['AAPL', 5]",
        ),
        ({"tickers": ["A B"]}, "p.yaml: tickers: ticker 'A B' is not a valid symbol"),
        ({"source": "yahoo"}, "p.yaml: source must be one of sample, csv, yfinance, not 'yahoo'"),
        ({"ingest": [1, 2]}, "p.yaml: ingest must be a mapping of settings, not a list"),
        ({"demo": {"backfill_sessions": "abc"}}, "demo.backfill_sessions must be a whole number"),
        ({"demo": {"backfill_sessions": 0}}, "demo.backfill_sessions must be at least 1, not 0"),
        ({"demo": {"backfill_sessions": True}}, "demo.backfill_sessions must be a whole number"),
        (
            {"demo": {"sessions": 3}},
            "p.yaml: demo.sessions is not a setting: use backfill_sessions",
        ),
        ({"demo": 5}, "p.yaml: demo must be a mapping of settings, not an int"),
        (
            {"ingest": {"overlap_days": "abc"}},
            "ingest.overlap_days must be a whole number, not 'abc'",
        ),
        ({"ingest": {"overlap_days": 1.5}}, "ingest.overlap_days must be a whole number, not 1.5"),
        (
            {"ingest": {"overlap_days": None}},
            "ingest.overlap_days must be a whole number, not None",
        ),
        ({"ingest": {"overlap_dayz": 3}}, "ingest.overlap_dayz is not a setting: use overlap_days"),
        ({"features": {"window": 3}}, "p.yaml: features.window is not a setting: features takes"),
        (
            {"trian": {}},
            "p.yaml: trian is not a section: use source, tickers, executor, workers, demo, ingest",
        ),
        (
            {"executor": "threads"},
            "p.yaml: executor must be one of auto, serial, processes, dask, not 'threads'",
        ),
        ({"workers": 0}, "p.yaml: workers must be a whole number >= 1 (or empty: one per core)"),
        ({"workers": True}, "p.yaml: workers must be a whole number >= 1"),
        (
            {"train": {"serve_rule": {"min_share": 1}}},
            "train.serve_rule.min_share is not a setting",
        ),
        ({"tune": {"grids": {"lgbm": [1]}}}, "tune.grids.lgbm must be a mapping, not [1]"),
        ({"train": {"interval_level": "0.9"}}, "train.interval_level must be a number, not '0.9'"),
        ({"train": {"serve_rule": "both"}}, "train.serve_rule must be a mapping, not 'both'"),
        (
            {"train": {"serve_rule": {"min_fold_share": "high"}}},
            "train.serve_rule.min_fold_share must be a number, not 'high'",
        ),
        ({"tune": {"grids": {"ridge": {"alpha": 1}}}}, "tune.grids.ridge.alpha must be a list"),
        (
            {"tune": {"grids": {"ridge": {"alpha": [1, "x"]}}}},
            "tune.grids.ridge.alpha[1] must be a number, not 'x'",
        ),
        ({"dashboard": {"static": "yes"}}, "dashboard.static must be true or false, not 'yes'"),
        ({"dashboard": {"date_from": {1, 2}}}, "dashboard.date_from must be a JSON value"),
    ],
)
def test_every_bad_setting_is_refused_naming_the_file_and_key(settings, message):
    with pytest.raises(BadInput) as refused:
        check(settings)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_the_shipped_settings_files_are_valid():

    sections = section_defaults()
    for path in (config.PIPELINE_YAML, config.REPO_ROOT / "tests" / "pipeline.test.yaml"):
        check_pipeline_config(config.load_pipeline_config(path), sections, path)


def test_sections_are_the_stage_notebooks_settings_without_what_the_runner_sets():

    sections = section_defaults()
    assert sections["ingest"] == {"overlap_days": 14}
    assert sections["features"] == {}
    assert "mode" not in sections["train"] and "as_of" not in sections["train"]
    assert sections["train"]["serve_rule"]["min_fold_share"] == 0.8
    assert "static" not in sections["dashboard"] and sections["dashboard"]["window"] == 20


def test_train_defaults_live_in_one_place_and_tuning_borrows_them():
    """The notebooks declare train settings as None; their types and values come from
    stockcast.settings.TrainSettings, and tuning takes the train section's window and folds."""
    from runner.stages import TUNE, stage_parameters
    from stockcast.settings import TrainSettings

    sections = section_defaults()
    defaults = TrainSettings()
    assert sections["train"]["train_window"] == defaults.train_window
    assert sections["train"]["retrain_every"] == defaults.retrain_every
    assert "train_window" not in sections["tune"] and "n_splits" not in sections["tune"]
    with pytest.raises(BadInput, match="tune.n_splits is not a setting: use grids"):
        check_pipeline_config({"tune": {"n_splits": 3}}, sections, "p.yaml")
    with pytest.raises(BadInput, match="train.train_window must be a whole number, not 'x'"):
        check_pipeline_config({"train": {"train_window": "x"}}, sections, "p.yaml")
    declared = {"train_window": None, "n_splits": None, "grids": {}, "as_of": "2013-03-01"}
    pipeline = {"train": {"n_splits": 3, "interval_level": 0.8}, "tune": {"grids": {"a": 1}}}
    params = stage_parameters(TUNE, declared, {"as_of": "2020-01-02"}, pipeline)
    assert params == {"n_splits": 3, "grids": {"a": 1}, "as_of": "2020-01-02"}
