"""What is served, replayed walk-forward on synthetic prices: the blend keeps a real edge (AR(1)
returns) and gives nothing away on a random walk. Slow-ish (three 500-session replays, with the
default parameters a run without tuning uses)."""

import numpy as np
import pytest
from synthetic import make_prices

from stockcast.backfill import replay, summarize_replay
from stockcast.evaluate import add_as_of_close, score_predictions, summarize
from stockcast.features import make_features
from stockcast.predict import to_price_rows
from stockcast.settings import TrainSettings

SESSIONS = 500


def replay_served(phi: float, seed: int, settings: TrainSettings | None = None):
    """(summary per model over the 500 replayed sessions, replay summary, oracle RMSE ratio)."""
    settings = settings or TrainSettings()
    n = 60 + settings.train_window + 40 + SESSIONS + 1
    prices = make_prices(n, "SYN", seed=seed, phi=phi)
    features = make_features(prices)
    days = features["date"]
    start, end = days.iloc[n - SESSIONS - 1], days.iloc[n - 2]
    forecasts, failures = replay(features, None, start, end, settings)
    assert not failures
    preds = to_price_rows(forecasts, prices)
    evals = score_predictions(preds, prices)
    summary = summarize(evals, add_as_of_close(preds, prices), windows=(SESSIONS,))
    replayed = features[features["date"].between(start, end)]
    oracle = np.sqrt(np.mean((replayed["label"] - phi * replayed["ret_1d"]) ** 2))
    naive = np.sqrt(np.mean(replayed["label"] ** 2))
    return summary.set_index("model"), summarize_replay(forecasts), oracle / naive


@pytest.fixture(scope="module")
def ar_replay():
    """AR(1) returns with coefficient 0.2 (knowing phi gives an RMSE ratio of 0.980 to naive),
    served by the blend and by the old all-or-nothing rule."""
    blend = replay_served(0.2, seed=1)
    switch, _, _ = replay_served(0.2, 1, TrainSettings(serve_rule={"method": "both"}))
    return blend, switch


def test_the_blend_keeps_a_real_edge(ar_replay):
    (summary, replayed, oracle), switch = ar_replay
    served = summary.loc["champion", "rmse_ratio"]
    assert summary.loc["champion", "n"] == SESSIONS
    assert oracle == pytest.approx(0.980, abs=0.002)
    # Alone, AR(1) (two coefficients) reaches 0.9844 and the 15-feature ridge 0.9876; served,
    # 0.9902 (0.9894 without ar on this seed; over ten seeds ar lowers the served mean from
    # 0.9874 to 0.9845, README).
    assert summary.loc["ar", "rmse_ratio"] <= 0.985 < summary.loc["ridge", "rmse_ratio"]
    assert served <= 0.9905
    assert replayed["naive_weight"].iloc[0] < 0.6  # the challengers hold most of the weight
    # The all-or-nothing rule, re-decided on overlapping evidence, served naive nearly always
    # and lost when it switched.
    assert switch.loc["champion", "rmse_ratio"] > 0.999
    assert served < switch.loc["champion", "rmse_ratio"] - 0.005


@pytest.mark.xfail(
    strict=True,
    reason="issue 11's target: ar alone reaches 0.984 here, but the blend's weight, shrunk on "
    "500 out-of-sample sessions of evidence, averages 0.58 (README: ten seeds)",
)
def test_the_blend_reaches_the_issue_target_on_ar_returns(ar_replay):
    (summary, _, _), _ = ar_replay
    assert summary.loc["champion", "rmse_ratio"] <= 0.985


def test_on_a_random_walk_the_blend_gives_nothing_away():
    summary, replayed, _ = replay_served(0.0, seed=1)
    assert summary.loc["champion", "rmse_ratio"] <= 1.002
    assert summary.loc["ridge", "rmse_ratio"] > 1.002  # what an unshrunk challenger costs
