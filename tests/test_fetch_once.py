"""A run reads its source once: the planner's read (which sets the default as-of and refuses bad
input before anything is written) is saved in the run folder and handed to ingest."""

from __future__ import annotations

import pandas as pd
import pytest

from stockcast import sources
from stockcast.errors import SourceError


def test_a_saved_read_serves_fetches_as_the_source_does(tmp_path, monkeypatch):
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "BAD.csv").write_text("Date,Close\n2013-03-01,1\n")
    sample = sources.fetch_prices("sample", ["AAPL", "IBM", "NOPE"])
    assert list(sample.failures) == ["NOPE"]
    path = tmp_path / "fetched.parquet"
    sample.save(path)

    def no_source(*args):
        raise AssertionError("the source was read again")

    monkeypatch.setattr(sources, "_reader", no_source)
    window = {"start": "2013-02-01", "end": "2013-02-28"}
    saved = sources.fetch_prices("sample", ["IBM", "NOPE"], prefetched=path, **window)
    monkeypatch.undo()
    direct = sources.fetch_prices("sample", ["IBM", "NOPE"], **window)
    pd.testing.assert_frame_equal(saved.prices, direct.prices)
    assert saved.failures == direct.failures
    loaded = sources.FetchResult.load(path)
    assert loaded.failures == sample.failures and not loaded.prices.attrs
    with pytest.raises(SourceError, match="MSFT is not in this run's read of its source"):
        sources._read_saved(loaded, "MSFT", None, None)


def test_a_daily_run_hands_the_planners_read_to_ingest(outputs, monkeypatch, capsys):
    from fake_papermill import FakePapermill

    from runner.cli import main

    reads = []
    fetch = sources.fetch_prices
    monkeypatch.setattr(sources, "fetch_prices", lambda *a, **k: reads.append(a) or fetch(*a, **k))
    fake = FakePapermill().install(monkeypatch)
    assert main(["daily", "--tickers", "AAPL,MSFT"]) == 0
    assert len(reads) == 1  # the planner's, for the default as-of
    ingest = dict(fake.calls)["ingest"]
    saved = sources.FetchResult.load(ingest["prefetched"])
    assert ingest["prefetched"].endswith("/fetched.parquet")
    assert set(saved.prices["ticker"]) == {"AAPL", "MSFT"} and saved.failures == {}
    assert "prefetched" not in dict(fake.calls)["train"]  # only ingest declares it
    # given an as-of, the planner reads nothing: ingest reads the source itself
    before = len(fake.calls)
    assert main(["daily", "--tickers", "AAPL", "--as-of", "2013-02-28"]) == 0
    name, parameters = fake.calls[before]
    assert len(reads) == 1 and name == "ingest" and "prefetched" not in parameters
