"""reports.py: per-ticker tables in a stage report, whole for a few tickers, a distribution and
the worst tickers for a universe, the whole table saved beside the report."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockcast.reports import FULL_TABLE_TICKERS, show_tickers, some


def scores(n_tickers: int) -> pd.DataFrame:
    """Three models a ticker; ticker T007's champion is the worst against naive, then T003."""
    tickers = [f"T{i:03d}" for i in range(n_tickers)]
    ratio = {ticker: 1.0 + i / 10_000 for i, ticker in enumerate(tickers)}
    ratio.update(T007=1.5, T003=1.4)
    rows = [
        {"ticker": t, "model": m, "rmse_ratio": ratio[t] if m == "champion" else 1.0}
        for t in tickers
        for m in ("champion", "naive", "ridge")
    ]
    return pd.DataFrame(rows).set_index(["ticker", "model"])


def champion_ratio(table: pd.DataFrame) -> pd.Series:
    return table.xs("champion", level="model")["rmse_ratio"]


def test_a_few_tickers_are_shown_whole_and_nothing_is_written(tmp_path):
    table = scores(FULL_TABLE_TICKERS)
    shown = show_tickers(table, champion_ratio(table), "RMSE ratio", tmp_path / "scores.csv")
    assert shown._repr_html_() == table.round(4)._repr_html_()
    assert not (tmp_path / "scores.csv").exists()


def test_a_universe_shows_its_distribution_and_worst_tickers_and_saves_every_row(tmp_path):
    table = scores(500)
    shown = show_tickers(table, champion_ratio(table), "RMSE ratio", tmp_path / "scores.csv")
    worst = shown.worst_rows()
    assert worst.index.get_level_values("ticker").unique()[:2].tolist() == ["T007", "T003"]
    assert len(worst) == 10 * 3  # every row of the ten worst
    distribution = shown.distribution()
    assert distribution.loc["rmse_ratio", "count"] == 1500
    assert distribution.loc["rmse_ratio", "max"] == 1.5
    page = shown._repr_html_()
    assert "500 tickers" in page and "All 1500 rows: scores.csv" in page
    assert "10 worst by RMSE ratio" in page
    assert page.count("<tr>") < 60  # not 1,500 rows
    saved = pd.read_csv(tmp_path / "scores.csv", index_col=["ticker", "model"])
    pd.testing.assert_frame_equal(saved, table)


def test_a_ticker_column_and_no_ranking_work_too():
    table = scores(30).reset_index()
    shown = show_tickers(table)
    assert shown.worst_rows().empty and "worst" not in repr(shown)
    assert "30 tickers" in repr(shown)
    ranked = show_tickers(table, pd.Series({"T029": np.nan, "T001": 2.0}), "made up")
    assert ranked.worst_rows()["ticker"].unique().tolist() == ["T001"]  # NaN is not ranked


def test_a_universe_is_listed_in_one_readable_line():
    tickers = [f"T{i:03d}" for i in range(503)]
    assert some(tickers) == ", ".join(tickers[:20]) + " and 483 more"
    assert some(["AAPL", "MSFT"]) == "AAPL, MSFT"
