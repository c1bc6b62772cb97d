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
    assert settings.mlflow_models == "served"
    monkeypatch.setenv("STOCKCAST_MLFLOW_MODELS", "all")
    assert config.load_settings().mlflow_models == "all"


def test_an_unknown_mlflow_models_setting_is_one_line_naming_the_fix(outputs, monkeypatch):
    monkeypatch.setenv("STOCKCAST_MLFLOW_MODELS", "champion")
    with pytest.raises(BadInput, match="STOCKCAST_MLFLOW_MODELS='champion' is unknown: set it to"):
        config.load_settings()


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
