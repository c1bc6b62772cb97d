"""features.py: split adjustment, the label's forward shift, unit-free features, no look-ahead."""

import numpy as np
import pandas as pd
import pytest
from synthetic import make_panel, make_prices, perturb_after

from stockcast.features import (
    FEATURE_COLUMNS,
    WARMUP_SESSIONS,
    adjust_prices,
    make_features,
    make_label,
)
from stockcast.volatility import SCALE_COLUMNS, compute_scales


def assert_same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(left.reset_index(drop=True), right.reset_index(drop=True))


def test_adjust_prices_scales_open_high_low_by_the_close_adjustment():
    prices = make_prices(100, split_at=50)
    adjusted = adjust_prices(prices)
    factor = prices["adj_close"] / prices["close"]
    assert np.allclose(adjusted["adj_open"], prices["open"] * factor)
    assert np.allclose(adjusted["adj_high"].iloc[:50], prices["high"].iloc[:50] / 2)
    assert np.allclose(adjusted["adj_low"].iloc[50:], prices["low"].iloc[50:])


def test_label_is_the_next_session_log_return_of_adj_close():
    prices = make_prices(80, split_at=40)
    label = make_label(prices)
    expected = np.log(prices["adj_close"].shift(-1) / prices["adj_close"])
    assert np.allclose(label.iloc[:-1], expected.iloc[:-1])
    assert abs(label.iloc[39]) < 0.1  # across the split: adjusted, not the as-traded halving
    assert np.isnan(label.iloc[-1])


def test_label_is_nan_across_a_gap_and_between_tickers():
    prices = make_panel(("AAA", "BBB"), n=80)
    gapped = prices.drop(index=30).reset_index(drop=True)  # session 30 of AAA is missing
    label = make_label(gapped)
    assert np.isnan(label.iloc[29])  # next row is two sessions later: no label
    assert label.iloc[:29].notna().all() and label.iloc[30:78].notna().all()
    last_of_aaa = gapped.index[gapped["ticker"] == "AAA"][-1]
    assert np.isnan(label.loc[last_of_aaa])


def test_label_keeps_the_input_row_order():
    prices = make_panel(("AAA", "BBB"), n=70)
    shuffled = prices.sample(frac=1.0, random_state=0)
    assert np.allclose(make_label(shuffled).loc[prices.index], make_label(prices), equal_nan=True)


def test_make_features_columns_and_warm_up():
    features = make_features(make_panel(("AAA", "BBB"), n=150))
    expected = ["ticker", "date", "close", "adj_close", "warm_up", *FEATURE_COLUMNS]
    assert list(features.columns) == [*expected, *SCALE_COLUMNS, "label"]
    for _, rows in features.groupby("ticker"):
        assert rows["warm_up"].sum() == WARMUP_SESSIONS
        assert rows.loc[rows["warm_up"], list(FEATURE_COLUMNS)].isna().all().all()
        assert np.isfinite(rows.loc[~rows["warm_up"], list(FEATURE_COLUMNS)]).all().all()


@pytest.mark.parametrize("cut", [WARMUP_SESSIONS + 5, 160, 238])
def test_features_at_and_before_t_ignore_every_later_row(cut):
    prices = make_panel(("AAA", "BBB"), n=240, split_at=150)
    t = prices.loc[prices["ticker"] == "AAA", "date"].iloc[cut]
    before = make_features(prices)
    after = make_features(perturb_after(prices, t))
    known = before["date"] <= t
    for column in (*FEATURE_COLUMNS, *SCALE_COLUMNS):
        assert_same(before.loc[known, [column]], after.loc[known, [column]])
    # The label of row t is the return t -> t+1 (known at t+1); every earlier label is fixed.
    earlier = before["date"] < t
    assert_same(before.loc[earlier, ["label"]], after.loc[earlier, ["label"]])
    at_t = before["date"] == t
    assert not np.allclose(before.loc[at_t, "label"], after.loc[at_t, "label"])


def test_features_are_identical_with_or_without_a_split():
    plain = make_features(make_prices(200, seed=3))
    split = make_features(make_prices(200, seed=3, split_at=120))
    columns = [*FEATURE_COLUMNS, *SCALE_COLUMNS, "label"]
    pd.testing.assert_frame_equal(plain[columns], split[columns], rtol=1e-9)


def test_range_volatility_estimators_on_known_bars():
    """Bars with a constant 2 % high-low range and an open-to-close move of 1 %: Parkinson
    sees the range alone, Garman-Klass discounts the drift, Yang-Zhang adds the overnight gaps."""
    n, step = 30, 0.01
    close = np.exp(step * np.arange(n))
    bars = pd.DataFrame(
        {"adj_open": close * np.exp(-step), "adj_close": close,
         "adj_high": close * np.exp(0.005), "adj_low": close * np.exp(-0.015)}
    )  # fmt: skip
    scales = compute_scales(bars)
    assert scales.iloc[:19].isna().all().all()  # the window holds 20 sessions, today included
    last = scales.iloc[-1]
    assert last["vol_park_20d"] == pytest.approx(0.02 / np.sqrt(4 * np.log(2)))
    gk = np.sqrt(0.5 * 0.02**2 - (2 * np.log(2) - 1) * step**2)
    assert last["vol_gk_20d"] == pytest.approx(gk)
    # No overnight gap and a constant open-to-close move: only Rogers-Satchell remains.
    rs = 0.005 * 0.015 + 0.015 * 0.005
    k = 0.34 / (1.34 + 21 / 19)
    assert last["vol_yz_20d"] == pytest.approx(np.sqrt((1 - k) * rs))


def test_constant_prices_give_finite_neutral_features():
    features = make_features(make_prices(120, constant=True))
    ready = features.loc[~features["warm_up"], list(FEATURE_COLUMNS)]
    assert np.isfinite(ready).all().all()
    assert np.allclose(ready["rsi_14"], 50) and np.allclose(ready["bb_pctb_20"], 0.5)
    assert np.allclose(ready.drop(columns=["rsi_14", "bb_pctb_20"]), 0, atol=1e-9)
    assert np.allclose(features["label"].iloc[:-1], 0)


def test_short_history_gives_nan_features_not_an_error():
    features = make_features(make_prices(WARMUP_SESSIONS - 10))
    assert features[list(FEATURE_COLUMNS)].isna().all().all()
    assert features["label"].iloc[:-1].notna().all()


def test_missing_column_is_a_key_error_naming_it():
    with pytest.raises(KeyError, match="adj_close"):
        make_features(make_prices(80).drop(columns=["adj_close"]))
