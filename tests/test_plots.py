"""plots.py: the price figure and the track-record figure, readable and with two-decimal prices."""

import numpy as np
import pandas as pd
import pytest

from stockcast import dashboard
from stockcast.config import CANDIDATES
from stockcast.plots import COLORS, price_figure, track_record_figure


def make_frames(n_days=12):
    """Closes rising by 1 a day; naive says flat; ridge is right on even days, champion then."""
    days = pd.bdate_range("2021-01-04", periods=n_days + 1)
    prices = pd.DataFrame({"ticker": "AAA", "date": days, "close": 100.0 + np.arange(n_days + 1)})
    rows = []
    for i in range(n_days):
        as_of_close, true_close = prices["close"].iloc[i], prices["close"].iloc[i + 1]
        for model, close in (("naive", as_of_close), ("ridge", true_close + (i % 2))):
            rows.append(
                {
                    "ticker": "AAA",
                    "as_of_date": days[i],
                    "target_date": days[i + 1],
                    "model": model,
                    "pred_close": close,
                    "pred_lower": close - 1.5,
                    "pred_upper": close + 1.5,
                    "is_champion": (model == "ridge") == (i % 2 == 0),
                    "model_version": "3" if i == n_days - 1 and model == "naive" else None,
                    "true_close": true_close,
                    "as_of_close": as_of_close,
                    "inside_interval": abs(close - true_close) <= 1.5,
                }
            )
    return prices, pd.DataFrame(rows)


def trace(figure, name):
    return next(t for t in figure.data if t.name == name)


def test_price_figure_shows_closes_champion_band_and_naive():
    prices, preds = make_frames()
    figure = price_figure(prices, preds, "AAA", 0.9)
    names = [t.name for t in figure.data]
    for name in ("close", "champion forecast", "naive (last close)", "90% interval"):
        assert name in names
    champion = trace(figure, "champion forecast")
    assert len(champion.x) == preds["is_champion"].sum()
    assert trace(figure, "90% interval").fill == "tonexty"
    assert "AAA" in figure.layout.title.text
    assert figure.layout.xaxis.title.text and figure.layout.yaxis.title.text


def test_price_figure_reads_prices_with_two_decimals():
    prices, preds = make_frames()
    figure = price_figure(prices, preds, "AAA", 0.9)
    assert figure.layout.yaxis.tickformat == ",.2f"
    for name in ("close", "champion forecast", "naive (last close)"):
        assert ":,.2f}" in trace(figure, name).hovertemplate
    latest = preds[preds["is_champion"]].iloc[-1]["pred_close"]
    assert figure.layout.annotations[-1].text == f"{latest:,.2f}"


def test_price_figure_without_forecasts_still_draws_the_closes():
    prices, preds = make_frames()
    figure = price_figure(prices, preds.iloc[0:0], "AAA", 0.9)
    assert len(trace(figure, "close").x) == len(prices)
    assert not figure.layout.annotations


def test_price_figure_names_a_missing_column():
    prices, preds = make_frames()
    with pytest.raises(KeyError, match="pred_lower"):
        price_figure(prices, preds.drop(columns="pred_lower"), "AAA", 0.9)


def test_every_candidate_has_its_own_colour():
    assert set(CANDIDATES) <= set(COLORS)
    assert len({COLORS[name] for name in CANDIDATES}) == len(CANDIDATES)


def test_track_record_figure_has_three_labelled_panels():
    _, evals = make_frames(30)
    record = dashboard.rolling_track_record(evals, window=10)
    figure = track_record_figure(record, "AAA", window=10, level=0.9)
    titles = [a.text for a in figure.layout.annotations]
    assert any("RMSE ratio" in t for t in titles) and any("coverage" in t for t in titles)
    names = {t.name for t in figure.data}
    assert {"champion RMSE", "naive RMSE", "champion MAE", "naive MAE"} <= names
    assert {"champion / naive", "ridge direction"} <= names
    assert "rolling over 10" in figure.layout.title.text
    assert figure.layout.yaxis.tickformat == ",.2f"
    assert figure.layout.yaxis3.title.text == "%"


def test_track_record_figure_leaves_out_a_model_that_never_calls_a_direction():
    _, evals = make_frames(30)
    evals["is_champion"] = evals["model"] == "naive"  # naive served every day
    record = dashboard.rolling_track_record(evals, window=10)
    names = {t.name for t in track_record_figure(record, "AAA", window=10, level=0.9).data}
    assert "champion direction" not in names
    assert "ridge direction" in names
