"""Ticker pattern, exchange calendars by suffix, settings from the environment, URL masking."""

from __future__ import annotations

import pytest

from stockcast import config
from stockcast.errors import BadInput, InvalidTicker


@pytest.mark.parametrize("ticker", ["AAPL", "BRK-B", "^GSPC", "EURUSD=X", "0700.HK", "VOD.L"])
def test_real_symbols_pass(ticker):
    assert config.check_ticker(ticker) == ticker


@pytest.mark.parametrize(
    "ticker",
    [
        "AAPL'; DROP TABLE stock_price;--",
        "../../etc/passwd",
        "X\nimport os",
        "",
        "A B",
        "AAPL/../x",
        "$(rm -rf)",
        "TOOLONGSYMBOL123",
    ],
)
def test_hostile_or_malformed_symbols_are_rejected(ticker):
    with pytest.raises(InvalidTicker, match="is not a valid symbol"):
        config.check_ticker(ticker)


def test_tickers_are_upper_cased_and_deduplicated():
    assert config.check_tickers("aapl, msft,AAPL") == ["AAPL", "MSFT"]


@pytest.mark.parametrize(
    ("ticker", "exchange"),
    [
        ("AAPL", "XNYS"),
        ("^GSPC", "XNYS"),
        ("VOD.L", "XLON"),
        ("0700.HK", "XHKG"),
        ("EURUSD=X", "24/5"),
    ],
)
def test_exchange_comes_from_the_suffix(ticker, exchange):
    assert config.exchange_for(ticker) == exchange


def test_unknown_suffix_is_rejected_with_the_fix():
    with pytest.raises(InvalidTicker, match=r"suffix '\.ZZ' with no exchange calendar"):
        config.exchange_for("ABC.ZZ")


def test_settings_default_inside_the_outputs_folder(outputs):
    settings = config.load_settings()
    assert outputs.is_dir()
    assert settings.db_url == f"sqlite:///{outputs / 'stockcast.db'}"
    assert settings.tracking_uri == f"sqlite:///{outputs / 'mlflow.db'}"
    assert settings.runs_dir == outputs / "runs"


def test_environment_overrides_infrastructure(outputs, monkeypatch):
    monkeypatch.setenv("STOCKCAST_DB_URL", "postgresql+psycopg://u:p@db/stockcast")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    settings = config.load_settings()
    assert settings.db_url.startswith("postgresql+psycopg://")
    assert settings.tracking_uri == "http://mlflow:5000"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "postgresql+psycopg://user:pa%40ss@host:5432/db",
            "postgresql+psycopg://user:***@host:5432/db",
        ),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
        ("postgresql://user@host/db", "postgresql://user@host/db"),
    ],
)
def test_mask_url_hides_only_the_password(url, masked):
    assert config.mask_url(url) == masked


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "postgresql+psycopg://u@h/db?password=secret",
            "postgresql+psycopg://u@h/db?password=***",
        ),
        (
            "postgresql://u@h:5432/db?sslmode=require&sslpassword=secret&connect_timeout=5",
            "postgresql://u@h:5432/db?sslmode=require&sslpassword=***&connect_timeout=5",
        ),
        (  # both forms at once, and a key spelled with percent-escapes
            "postgresql://u:secret@h/db?pass%77ord=secret&application_name=x",
            "postgresql://u:***@h/db?pass%77ord=***&application_name=x",
        ),
        (  # a password without a user; a secret with an '@' and a '#'
            "postgresql://:sec%40ret@h/db?oauth_client_secret=s%23cret",
            "postgresql://:***@h/db?oauth_client_secret=***",
        ),
        (  # keys are matched whatever their case; ';' also separates parameters
            "postgresql://u@h/db?options=-csearch_path%3Dx;PASSWORD=secret",
            "postgresql://u@h/db?options=-csearch_path%3Dx;PASSWORD=***",
        ),
        ("http://user:secret@mlflow:5000", "http://user:***@mlflow:5000"),
        ("http://mlflow:5000/?token=secret", "http://mlflow:5000/?token=***"),
        ("postgresql://u@h/db?password=", "postgresql://u@h/db?password=***"),
        ("postgresql://u@h/db?password", "postgresql://u@h/db?password=***"),
    ],
)
def test_mask_url_hides_secrets_in_every_form_a_url_carries_them(url, masked):
    assert config.mask_url(url) == masked
    assert "secret" not in config.mask_url(url).replace("client_secret", "")


def test_masking_a_text_removes_every_secret_the_url_carries():
    url = "postgresql://u:pw1@h/db?sslpassword=pw%232"
    text = "could not connect to postgresql://u:pw1@h/db (password pw1, key pw#2)"
    assert config.mask_secrets(text, url) == (
        "could not connect to postgresql://u:***@h/db (password ***, key ***)"
    )


def test_an_unparseable_url_is_not_printed():
    assert config.mask_url("postgresql://u:pw@[::1/db") == "<unparseable URL>"


# --- pipeline settings ------------------------------------------------------------------------

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
    return config.check_pipeline_config(settings, SECTIONS, "p.yaml")


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
        ({"tickers": 5}, "p.yaml: tickers must be a list of symbols, not 5"),
        ({"tickers": ["AAPL", 5]}, "p.yaml: tickers must be a list of symbols, not ['AAPL', 5]"),
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
        ({"trian": {}}, "p.yaml: trian is not a section: use source, tickers, demo, ingest, train"),
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
    from runner.stages import section_defaults

    sections = section_defaults()
    for path in (config.PIPELINE_YAML, config.REPO_ROOT / "tests" / "pipeline.test.yaml"):
        config.check_pipeline_config(config.load_pipeline_config(path), sections, path)


def test_sections_are_the_stage_notebooks_settings_without_what_the_runner_sets():
    from runner.stages import section_defaults

    sections = section_defaults()
    assert sections["ingest"] == {"overlap_days": 14}
    assert sections["features"] == {}
    assert "mode" not in sections["train"] and "as_of" not in sections["train"]
    assert sections["train"]["serve_rule"]["min_fold_share"] == 0.8
    assert "static" not in sections["dashboard"] and sections["dashboard"]["window"] == 20
