"""pooled.py: one ridge across the run's tickers never sees a label before its session, learns a
signal common to short histories that per-ticker models miss, is scored and served like any
candidate, gives the same results in processes, and is absent when the run is too small."""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from synthetic import make_panel, make_prices, perturb_after

from stockcast import tracking
from stockcast.backfill import replay
from stockcast.config import Settings
from stockcast.errors import BadInput
from stockcast.executors import Executor
from stockcast.features import FEATURE_COLUMNS, make_features
from stockcast.pooled import POOLED, fit_pooled, refit_dates
from stockcast.settings import TrainSettings
from stockcast.train import fit_tickers, forecast_tickers, scores_table

FAST = {"xgboost": {"n_estimators": 20}}
SMALL = TrainSettings(n_splits=3, train_window=200, min_train_rows=120, retrain_every=10)
COMMON_AR = tuple(f"T{i}" for i in range(6))


@pytest.fixture(scope="module")
def common_ar():
    """Six tickers of 300 sessions, all AR(1) with phi 0.3: ~180 labelled rows each."""
    return make_features(make_panel(COMMON_AR, n=300, phi=0.3))


@pytest.fixture(scope="module")
def common_ar_fit(common_ar):
    return fit_tickers(common_ar, dict.fromkeys(COMMON_AR, FAST), SMALL)


def test_refits_cover_the_window_before_the_anchors():
    calendar = pd.bdate_range("2020-01-01", periods=100)
    refits = refit_dates(calendar, [calendar[60], calendar[80]], train_window=25, every=10)
    assert list(refits) == [calendar[i] for i in (30, 40, 50, 60, 80)]


def test_pooled_oos_and_the_live_forecast_never_see_the_future():
    prices = make_panel(("AAA", "BBB", "CCC"), n=300)
    days = prices.loc[prices["ticker"] == "AAA", "date"]
    cut, anchor = days.iloc[270], days.iloc[280]
    before = fit_pooled(make_features(prices), [anchor], SMALL)
    changed = make_features(perturb_after(prices, cut))
    after = fit_pooled(changed, [anchor], SMALL)
    known = before.oos["date"] <= cut
    pd.testing.assert_frame_equal(before.oos[known], after.oos[known])
    assert not before.oos[~known].equals(after.oos[~known])
    # Live as of the cut: the as-of rows still carry their (perturbed) label, never used.
    live = [changed[changed["date"] <= cut], make_features(prices[prices["date"] <= cut])]
    forecasts = [forecast_tickers(fit_tickers(f, None, SMALL)[0], f) for f in live]
    assert set(forecasts[0]["model"]) >= {POOLED}
    pd.testing.assert_frame_equal(*forecasts)


def test_pooled_learns_a_common_signal_short_histories_hide(common_ar_fit):
    trained, failures = common_ar_fit
    ratios = scores_table(trained)["rmse_ratio"].unstack()
    assert not failures
    assert ratios[POOLED].mean() < ratios["ridge"].mean() - 0.01
    assert ratios[POOLED].mean() < 0.99


def test_pooled_is_scored_blended_and_served_like_any_candidate(common_ar, common_ar_fit):
    trained, _ = common_ar_fit
    fitted = trained["T0"]
    assert POOLED in fitted.oos and POOLED in set(fitted.scores["model"])
    served = scores_table(trained).xs(POOLED, level="model")["weight"]
    assert (served > 0).any()  # the blend put weight on it somewhere
    switch = replace(SMALL, serve_rule={"method": "folds"})
    champions = {t.champion for t in fit_tickers(common_ar, None, switch)[0].values()}
    assert POOLED in champions


def test_the_pooled_forecaster_is_self_contained(common_ar, common_ar_fit):
    trained, _ = common_ar_fit
    forecaster = pickle.loads(pickle.dumps(trained["T1"].forecasters[POOLED]))
    rows = common_ar[common_ar["ticker"] == "T1"].tail(3)
    model = forecaster.estimator_.estimator  # the pooled ridge fitted at the as-of date
    expected = model.predict(rows[list(FEATURE_COLUMNS)])
    np.testing.assert_allclose(forecaster.predict(rows)["pred_return"], expected)
    assert forecaster.feature_names_ == list(FEATURE_COLUMNS)
    assert "pooled_oos" not in trained["T1"].forecasters["ridge"].input_columns_


def test_backfill_refits_the_pool_at_each_retrain_date():
    features = make_features(make_panel(("AAA", "BBB"), n=260))
    days = features["date"].drop_duplicates().sort_values()
    forecasts, failures = replay(features, None, days.iloc[-25], days.iloc[-1], SMALL)
    pooled = forecasts[forecasts["model"] == POOLED]
    assert not failures and len(pooled) == 2 * 25
    assert pooled["trained_as_of"].nunique() == 3


def test_processes_give_the_serial_results(common_ar, common_ar_fit):
    processes, failures = fit_tickers(
        common_ar, dict.fromkeys(COMMON_AR, FAST), SMALL, Executor("processes", workers=2)
    )
    serial, _ = common_ar_fit
    assert not failures
    pd.testing.assert_frame_equal(scores_table(serial), scores_table(processes))
    pd.testing.assert_frame_equal(
        forecast_tickers(serial, common_ar), forecast_tickers(processes, common_ar)
    )


def test_too_few_tickers_or_turned_off_means_no_pooled():
    one = make_features(make_prices(300, "AAA"))
    assert POOLED not in fit_tickers(one, None, SMALL)[0]["AAA"].forecasters
    two = make_features(make_panel(("AAA", "BBB"), n=300))
    fewer = replace(SMALL, pooled_min_tickers=3)
    off = replace(SMALL, candidates=("naive", "ridge"))
    for settings in (fewer, off):
        assert fit_pooled(two, [two["date"].max()], settings) is None
        assert POOLED not in fit_tickers(two, None, settings)[0]["AAA"].forecasters
    with pytest.raises(BadInput, match="pooled_min_tickers"):
        TrainSettings(pooled_min_tickers=1)


def test_a_short_ticker_stays_naive_only_beside_a_pool():
    long = make_panel(("AAA", "BBB"), n=300)
    short = make_prices(150, "CCC", start="2005-08-01")
    features = make_features(pd.concat([long, short], ignore_index=True))
    trained, failures = fit_tickers(features, None, SMALL)
    assert not failures and trained["CCC"].naive_only
    assert list(trained["CCC"].forecasters) == ["naive"]
    assert POOLED in trained["AAA"].forecasters


def test_the_pooled_forecaster_logs_as_a_pyfunc_that_reproduces_it(
    tmp_path, common_ar, common_ar_fit
):
    import mlflow.pyfunc

    settings = Settings(
        outputs=tmp_path,
        db_url=f"sqlite:///{tmp_path / 'x.db'}",
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
    )
    tracking.use_experiment(settings, "pooled")
    trained, _ = common_ar_fit
    logged = tracking.log_training(trained["T2"], FAST, "run-pooled", {}, models="all")
    row = common_ar[common_ar["ticker"] == "T2"].tail(1)
    again = mlflow.pyfunc.load_model(logged.model_uris[POOLED]).predict(row)
    expected = trained["T2"].forecasters[POOLED].predict(row)
    pd.testing.assert_frame_equal(
        again.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False
    )
