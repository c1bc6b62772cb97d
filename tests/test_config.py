"""Ticker pattern, exchange calendars by suffix, settings from the environment, URL masking."""

from __future__ import annotations

import pytest

from stockcast import config
from stockcast.errors import InvalidTicker


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
