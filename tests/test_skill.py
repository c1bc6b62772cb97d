"""skill.py: the Winkler score, interval coverage overall, recent and by year, widths."""

import numpy as np
import pandas as pd
import pytest

from stockcast.skill import (
    IC_COLUMNS,
    INTERVAL_COLUMNS,
    coverage_by_year,
    cross_sectional_ic,
    score_intervals,
    winkler_scores,
)


def test_winkler_charges_width_and_twenty_times_the_miss_at_90_percent():
    scores = winkler_scores([99, 99, 99], [101, 101, 101], [100, 98, 103], level=0.9)
    assert np.allclose(scores, [2.0, 2.0 + 20 * 1, 2.0 + 20 * 2])
    assert winkler_scores([99], [101], [97], level=0.5)[0] == pytest.approx(2 + 4 * 2)


def make_history(n=100):
    """Closes of 100; the band [99, 101]; the outcome outside on every 4th session; the first
    50 target sessions in 2011, the rest in 2012; naive served on even sessions, ridge on odd."""
    days = pd.Index(pd.bdate_range("2011-10-20", periods=n))
    truth = np.where(np.arange(n) % 4 == 0, 102.0, 100.0)
    frames = []
    for model, offset in (("naive", 0.0), ("ridge", 0.5)):
        frames.append(
            pd.DataFrame(
                {
                    "ticker": "AAA",
                    "target_date": days,
                    "model": model,
                    "pred_lower": 99.0 + offset,
                    "pred_upper": 101.0 + offset,
                    "true_close": truth,
                    "as_of_close": 100.0,
                    "is_champion": (np.arange(n) % 2 == 1) == (model == "ridge"),
                }
            )  # fmt: skip
        )
    return pd.concat(frames, ignore_index=True)


def test_score_intervals_per_model_and_for_the_served_champion():
    history = make_history()
    history.loc[0, ["pred_lower", "pred_upper"]] = np.nan  # no interval: left out, not a miss
    table = score_intervals(history)
    assert list(table.columns) == list(INTERVAL_COLUMNS)
    table = table.set_index("model")
    naive = table.loc["naive"]
    assert naive["n"] == 99 and naive["coverage"] == pytest.approx(1 - 24 / 99)
    assert naive["coverage_20"] == pytest.approx(0.75) and naive["width_pct"] == pytest.approx(2)
    assert naive["winkler_pct"] == pytest.approx(2 + 20 * 1 * 24 / 99)
    # ridge's band [99.5, 101.5] misses 102 by 0.5 only
    assert table.loc["ridge", "winkler_pct"] == pytest.approx(2 + 20 * 0.5 * 25 / 100)
    champion = table.loc["champion"]  # even sessions (every miss) naive, odd ones ridge
    assert champion["n"] == 99 and champion["coverage"] == pytest.approx(1 - 24 / 99)


def test_coverage_by_calendar_year():
    years = coverage_by_year(make_history())
    assert list(years.columns) == [2011, 2012]
    days = pd.bdate_range("2011-10-20", periods=100)
    in_2011 = (days.year == 2011).sum()
    misses_2011 = sum(1 for i in range(in_2011) if i % 4 == 0)
    assert years.loc[("AAA", "naive"), 2011] == pytest.approx(1 - misses_2011 / in_2011)


def test_cross_sectional_ic_ranks_tickers_per_session():
    """Six tickers, 30 sessions: `good` ranks the outcomes right every day, `flip` wrong, naive
    ranks nothing; a session with only four tickers is left out."""
    rng = np.random.default_rng(0)
    rows = []
    for day in pd.bdate_range("2021-01-04", periods=30):
        tickers = [f"T{i}" for i in range(4 if day == pd.Timestamp("2021-01-05") else 6)]
        realized = rng.normal(0, 0.01, len(tickers))
        for ticker, move in zip(tickers, realized, strict=True):
            for model, guess in (("good", move * 0.1), ("flip", -move), ("naive", 0.0)):
                rows.append(
                    {"ticker": ticker, "target_date": day, "model": model, "as_of_close": 100.0,
                     "pred_close": 100 * np.exp(guess), "true_close": 100 * np.exp(move)}
                )  # fmt: skip
    table = cross_sectional_ic(pd.DataFrame(rows)).set_index("model")
    assert list(table.reset_index().columns) == list(IC_COLUMNS)
    assert table.loc["good", "sessions"] == 29  # 2021-01-05 had four tickers
    assert table.loc["good", "rank_ic_mean"] == pytest.approx(1.0)
    assert table.loc["good", "ic_mean"] == pytest.approx(1.0)
    assert table.loc["flip", "rank_ic_mean"] == pytest.approx(-1.0)
    assert np.isnan(table.loc["naive", "ic_mean"]) and table.loc["naive", "sessions"] == 0
    four = pd.DataFrame(rows).query("ticker in ['T0', 'T1', 'T2', 'T3']")
    assert (cross_sectional_ic(four)["sessions"] == 0).all()  # no cross-section of 5
