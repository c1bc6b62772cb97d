"""Tests of stockcast.sources: the bundled sample, CSV folders, and yfinance over a fake network."""

from __future__ import annotations

import importlib.util
import logging
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yahoo

from stockcast import frames, sources
from stockcast.config import REPO_ROOT
from stockcast.errors import BadInput, InvalidTicker

AFTER_CLOSE = pd.Timestamp("2024-05-01 21:00", tz="UTC")  # every served session has closed
YAHOO_LAYOUT = "Date,Open,High,Low,Close[,Adj Close],Volume"


def load_make_sample():
    """scripts/make_sample.py as a module (scripts/ is not a package)."""
    path = REPO_ROOT / "scripts" / "make_sample.py"
    spec = importlib.util.spec_from_file_location("make_sample", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return sources.fetch_prices("sample", None).prices


# --- sample -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ticker", "first", "last", "rows"),
    [
        ("AAPL", "2000-03-01", "2013-03-01", 3270),
        ("GOOG", "2004-08-19", "2013-03-01", 2148),
        ("IBM", "2000-03-01", "2013-03-01", 3270),
        ("MSFT", "2000-03-01", "2013-03-01", 3270),
    ],
)
def test_sample_ticker_has_known_range(sample, ticker, first, last, rows):
    dates = sample.loc[sample["ticker"] == ticker, "date"]
    assert (dates.min(), dates.max(), len(dates)) == (pd.Timestamp(first), pd.Timestamp(last), rows)


def test_sample_is_canonical(sample):
    assert tuple(sample.columns) == frames.PRICE_COLUMNS
    assert sorted(sample["ticker"].unique()) == sources.list_tickers("sample")
    assert sample["date"].dtype == "datetime64[ns]"
    assert (sample[list(frames.PRICE_COLUMNS[2:])].dtypes == "float64").all()
    assert not sample.duplicated(["ticker", "date"]).any()
    assert sample.equals(sample.sort_values(["ticker", "date"], ignore_index=True))


def test_sample_aapl_split_moves_close_not_adj_close(sample):
    aapl = sample[sample["ticker"] == "AAPL"].set_index("date")
    before, split = aapl.loc["2005-02-25"], aapl.loc["2005-02-28"]
    assert before["close"] / split["close"] == pytest.approx(1.98, abs=0.02)
    assert split["adj_close"] / before["adj_close"] == pytest.approx(1.0, abs=0.02)
    factor_jump = (split["adj_close"] / split["close"]) / (before["adj_close"] / before["close"])
    assert factor_jump == pytest.approx(2.0, rel=1e-9)
    assert split["stock_splits"] == 2.0


def test_sample_actions_match_known_history(sample):
    splits = sample[sample["stock_splits"] != 0]
    found = zip(splits["ticker"], splits["date"].dt.strftime("%Y-%m-%d"), strict=True)
    assert set(found) == {
        ("AAPL", "2000-06-21"),
        ("AAPL", "2005-02-28"),
        ("MSFT", "2003-02-18"),
    }
    as_text = sample.assign(date=sample["date"].dt.strftime("%Y-%m-%d"))
    assert load_make_sample().check_known_actions(as_text) == []
    msft = sample[(sample["ticker"] == "MSFT") & (sample["dividends"] > 0)]
    assert msft["date"].min() == pd.Timestamp("2003-02-19")
    assert msft["dividends"].iloc[0] == pytest.approx(0.08, abs=0.005)


def test_derive_actions_finds_split_and_dividend():
    make_sample = load_make_sample()
    # The adjusted close never moves: day 2 halves the close (a 2:1 split), day 4 takes 1.00
    # off a close of 100 (a 1.00 dividend).
    prices = pd.DataFrame({"close": [200.0, 100.0, 100.0, 99.0], "adj_close": [49.5] * 4})
    derived = make_sample.derive_actions(prices)
    assert derived["stock_splits"].tolist() == [0.0, 2.0, 0.0, 0.0]
    assert derived["dividends"].tolist() == [0.0, 0.0, 0.0, 1.0]


def test_sample_dates_filter_inclusively():
    result = sources.fetch_prices("sample", ["msft"], start="2013-02-26", end="2013-03-01")
    assert result.failures == {}
    assert result.prices["date"].dt.strftime("%m-%d").tolist() == [
        "02-26",
        "02-27",
        "02-28",
        "03-01",
    ]
    assert set(result.prices["ticker"]) == {"MSFT"}


def test_unknown_sample_ticker_fails_alone():
    result = sources.fetch_prices("sample", ["XYZ", "IBM"], start="2013-01-01")
    assert result.failures == {
        "XYZ": "unknown ticker 'XYZ' in the sample: it has AAPL, GOOG, IBM, MSFT"
    }
    assert set(result.prices["ticker"]) == {"IBM"}


def test_ticker_without_rows_in_window_fails():
    result = sources.fetch_prices("sample", ["GOOG"], end="2004-01-01")
    assert "GOOG" in result.failures and "2004-01-01" in result.failures["GOOG"]
    assert result.prices.empty and tuple(result.prices.columns) == frames.PRICE_COLUMNS


@pytest.mark.parametrize(
    "ticker", ["AAPL'; DROP TABLE stock_price;--", "../../etc/passwd", "X\nimport os"]
)
@pytest.mark.parametrize("source", ["sample", "csv", "yfinance"])
def test_invalid_ticker_is_bad_input(tmp_path, source, ticker):
    with pytest.raises(InvalidTicker):
        sources.fetch_prices(source, ["AAPL", ticker], csv_dir=tmp_path)


def test_unknown_source_and_bad_dates_are_bad_input():
    with pytest.raises(BadInput, match="unknown source 'stooq'"):
        sources.fetch_prices("stooq", ["AAPL"])
    with pytest.raises(BadInput, match="unknown source"):
        sources.list_tickers("stooq")
    with pytest.raises(BadInput, match="start 2013-02-01 is after end 2013-01-01"):
        sources.fetch_prices("sample", ["AAPL"], start="2013-02-01", end="2013-01-01")
    with pytest.raises(BadInput, match="start date 'yesterday-ish' is not a date"):
        sources.fetch_prices("sample", ["AAPL"], start="yesterday-ish")


# --- csv ----------------------------------------------------------------------------------------


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


YAHOO_EXPORT = """Date,Open,High,Low,Close,Adj Close,Volume
2020-01-02,158.779999,160.729996,158.330002,160.619995,154.779541,22622100
2020-01-03,158.320007,159.949997,158.059998,158.619995,152.852249,21116200
2020-01-06,157.080002,159.100006,156.509995,159.029999,153.247345,20813700
"""


def test_csv_round_trip_of_yahoo_export(tmp_path):
    write(tmp_path, "MSFT.csv", YAHOO_EXPORT)
    result = sources.fetch_prices("csv", None, csv_dir=tmp_path)
    assert result.failures == {}
    expected = pd.read_csv(tmp_path / "MSFT.csv", parse_dates=["Date"])
    prices = result.prices
    assert tuple(prices.columns) == frames.PRICE_COLUMNS
    assert prices["date"].tolist() == expected["Date"].tolist()
    assert prices["date"].dtype == "datetime64[ns]"
    assert prices["close"].tolist() == expected["Close"].tolist()
    assert prices["adj_close"].tolist() == expected["Adj Close"].tolist()
    assert prices["volume"].tolist() == expected["Volume"].astype(float).tolist()
    assert (prices[["dividends", "stock_splits"]] == 0.0).all().all()


def test_csv_universe_is_every_file_stem(tmp_path):
    for name in ("msft.csv", "AAPL.csv", "BRK-B.csv"):
        write(tmp_path, name, YAHOO_EXPORT)
    write(tmp_path, "notes.txt", "not prices")
    assert sources.list_tickers("csv", tmp_path) == ["AAPL", "BRK-B", "MSFT"]
    result = sources.fetch_prices("csv", None, csv_dir=tmp_path, start="2020-01-03")
    assert result.prices.groupby("ticker").size().to_dict() == {"AAPL": 2, "BRK-B": 2, "MSFT": 2}


def test_csv_without_adj_close_uses_close(tmp_path):
    write(tmp_path, "MSFT.csv", "Date,Open,High,Low,Close,Volume\n2020-01-02,1,2,0.5,1.5,100\n")
    prices = sources.fetch_prices("csv", ["MSFT"], csv_dir=tmp_path).prices
    assert prices["adj_close"].tolist() == prices["close"].tolist() == [1.5]


def test_csv_missing_columns_are_named(tmp_path):
    write(tmp_path, "MSFT.csv", "Date,Open,Close,Volume\n2020-01-02,1,1.5,100\n")
    write(tmp_path, "AAPL.csv", YAHOO_EXPORT)
    result = sources.fetch_prices("csv", ["MSFT", "AAPL"], csv_dir=tmp_path)
    assert result.failures == {
        "MSFT": f"MSFT.csv is missing columns High, Low: expected a Yahoo Finance export with "
        f"{YAHOO_LAYOUT}"
    }
    assert set(result.prices["ticker"]) == {"AAPL"}


def test_csv_empty_file_fails(tmp_path):
    write(tmp_path, "MSFT.csv", "")
    write(tmp_path, "IBM.csv", "Date,Open,High,Low,Close,Adj Close,Volume\n")
    failures = sources.fetch_prices("csv", None, csv_dir=tmp_path).failures
    assert failures["MSFT"] == "MSFT.csv is empty"
    assert failures["IBM"].startswith("IBM.csv is empty")


def test_csv_non_numeric_price_fails_with_its_cell(tmp_path):
    write(tmp_path, "MSFT.csv", YAHOO_EXPORT.replace("158.619995,152", "abc,152"))
    failures = sources.fetch_prices("csv", ["MSFT"], csv_dir=tmp_path).failures
    assert failures == {"MSFT": "MSFT.csv has a non-numeric Close on 2020-01-03: 'abc'"}


def test_csv_null_cells_stay_missing_for_validation(tmp_path):
    write(tmp_path, "MSFT.csv", YAHOO_EXPORT.replace("158.619995,152.852249", "null,null"))
    result = sources.fetch_prices("csv", ["MSFT"], csv_dir=tmp_path)
    assert result.failures == {}
    assert result.prices[["close", "adj_close"]].isna().sum().tolist() == [1, 1]


def not_iso(name: str, line: int, cell: str) -> str:
    return (
        f"{name} has a Date that is not YYYY-MM-DD on line {line}: {cell!r}; write dates as "
        "YYYY-MM-DD, as Yahoo exports them"
    )


def test_csv_unreadable_date_fails(tmp_path):
    write(tmp_path, "MSFT.csv", YAHOO_EXPORT.replace("2020-01-03", "someday"))
    failures = sources.fetch_prices("csv", ["MSFT"], csv_dir=tmp_path).failures
    assert failures == {"MSFT": not_iso("MSFT.csv", 3, "someday")}


def test_csv_with_day_first_dates_is_refused_not_scrambled(tmp_path):
    """Every date written dd/mm/yyyy: pandas would read 02/01 as February 1st (37 weekend rows
    and an as-of months after the real last date); the file is refused at its first date."""
    days = pd.bdate_range("2013-01-02", "2013-03-01")
    rows = "".join(f"{day:%d/%m/%Y},10,11,9,10.5,10.5,1000\n" for day in days)
    write(tmp_path, "MSFT.csv", "Date,Open,High,Low,Close,Adj Close,Volume\n" + rows)
    result = sources.fetch_prices("csv", ["MSFT"], csv_dir=tmp_path)
    assert result.failures == {"MSFT": not_iso("MSFT.csv", 2, "02/01/2013")}
    assert result.prices.empty


@pytest.mark.parametrize(
    "cell",
    [
        "01/02/2020",  # month first or day first: ambiguous
        "2020/01/02",
        "20200102",
        "2020-1-2",
        "Jan 2 2020",
        "2 January 2020",
        "2020-02-30",  # the shape of a date, not a date
        "2020-01-02 16:00:00",  # an intraday bar, or a session moved by a time-zone conversion
        "2020-01-02 00:00:00 EST",
        "1577923200",
    ],
)
def test_csv_dates_other_than_iso_are_refused_naming_the_file_and_value(tmp_path, cell):
    write(tmp_path, "MSFT.csv", YAHOO_EXPORT.replace("2020-01-03", cell))
    failures = sources.fetch_prices("csv", ["MSFT"], csv_dir=tmp_path).failures
    assert failures == {"MSFT": not_iso("MSFT.csv", 3, cell)}


@pytest.mark.parametrize(
    "cell",
    [
        "2020-01-03",  # Yahoo's export
        " 2020-01-03 ",
        "2020-01-03 00:00:00",  # a naive pandas to_csv
        "2020-01-03T00:00:00",
        "2020-01-03 00:00:00-05:00",  # yfinance's history().to_csv(): local midnight
        "2020-01-03 00:00:00+0000",
        "2020-01-03T00:00:00.000Z",
    ],
)
def test_csv_iso_dates_with_a_midnight_time_are_accepted(tmp_path, cell):
    write(tmp_path, "MSFT.csv", YAHOO_EXPORT.replace("2020-01-03", cell))
    result = sources.fetch_prices("csv", ["MSFT"], csv_dir=tmp_path)
    assert result.failures == {}
    assert result.prices["date"].tolist() == list(
        pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06"])
    )


def test_csv_yfinance_export_keeps_local_dates_and_actions(tmp_path):
    write(
        tmp_path,
        "AAPL.csv",
        "Date,Open,High,Low,Close,Adj Close,Volume,Dividends,Stock Splits\n"
        "2020-08-28 00:00:00-04:00,504.0,505.8,498.3,499.2,122.7,46907500,0.0,0.0\n"
        "2020-08-31 00:00:00-04:00,127.5,131.0,126.0,129.0,126.9,225702700,0.0,4.0\n",
    )
    prices = sources.fetch_prices("csv", ["AAPL"], csv_dir=tmp_path).prices
    assert prices["date"].tolist() == [pd.Timestamp("2020-08-28"), pd.Timestamp("2020-08-31")]
    assert prices["stock_splits"].tolist() == [0.0, 4.0]


def test_csv_folder_problems(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(BadInput, match="nowhere"):
        sources.fetch_prices("csv", ["MSFT"], csv_dir=missing)
    with pytest.raises(BadInput, match="--csv-dir"):
        sources.fetch_prices("csv", None)
    failures = sources.fetch_prices("csv", ["MSFT"], csv_dir=tmp_path).failures
    assert failures == {"MSFT": "no MSFT.csv in the CSV folder: add the file or drop the ticker"}


def test_csv_dir_that_is_a_file_says_so(tmp_path):
    path = write(tmp_path, "MSFT.csv", YAHOO_EXPORT)
    with pytest.raises(BadInput, match="is a file, not a folder") as error:
        sources.list_tickers("csv", path)
    assert str(tmp_path) in str(error.value) and "does not exist" not in str(error.value)
    with pytest.raises(BadInput, match="is a file, not a folder"):
        sources.fetch_prices("csv", ["MSFT"], csv_dir=path)


def test_csv_folder_that_cannot_be_read_is_bad_input(tmp_path, monkeypatch):
    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "iterdir", refuse)
    with pytest.raises(BadInput, match="cannot be read .*Permission denied"):
        sources.list_tickers("csv", tmp_path)


BAD_NAMES = ("MY FILE.csv", "..csv", "AAPL (1).csv", "x\nimport os.csv", f"{'A' * 40}.csv")


def test_a_badly_named_csv_is_skipped_alone_and_reported(tmp_path):
    write(tmp_path, "GOOD.csv", YAHOO_EXPORT)
    for name in BAD_NAMES:
        write(tmp_path, name, YAHOO_EXPORT)
    assert sources.list_tickers("csv", tmp_path) == ["GOOD"]
    result = sources.fetch_prices("csv", None, csv_dir=tmp_path)
    assert result.prices["ticker"].unique().tolist() == ["GOOD"]
    assert sorted(result.failures) == sorted(
        ["MY FILE.csv", "..csv", "AAPL (1).csv", "x\\nimport os.csv", "A" * 31 + "…"]
    )
    for label, reason in result.failures.items():
        assert len(label) <= 32  # run_item.ticker is VARCHAR(32)
        assert "is not a valid symbol" in reason and reason.endswith("rename the file")
        assert "\n" not in reason
    assert result.failures["MY FILE.csv"].startswith("'MY FILE.csv' skipped: ticker 'MY FILE'")
    # The folder's problems are reported on every fetch from it, until the files are fixed.
    assert "MY FILE.csv" in sources.fetch_prices("csv", ["GOOD"], csv_dir=tmp_path).failures


def test_two_files_for_one_ticker_are_refused_naming_both(tmp_path):
    write(tmp_path, "GOOD.csv", YAHOO_EXPORT)
    write(tmp_path, "GOODA.csv", YAHOO_EXPORT)
    write(tmp_path, "gooda.csv", YAHOO_EXPORT.replace("160.619995", "999.0"))
    assert sources.list_tickers("csv", tmp_path) == ["GOOD"]
    reason = "2 files are named after GOODA: GOODA.csv, gooda.csv; keep one of them"
    assert sources.fetch_prices("csv", None, csv_dir=tmp_path).failures == {"GOODA": reason}
    asked = sources.fetch_prices("csv", ["GOODA"], csv_dir=tmp_path)
    assert asked.failures == {"GOODA": reason} and asked.prices.empty


def test_symbolic_links_are_refused_and_never_read(tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    write(folder, "GOOD.csv", YAHOO_EXPORT)
    outside = write(tmp_path, "prices.txt", YAHOO_EXPORT)  # valid prices: refused all the same
    (folder / "PASSWD.csv").symlink_to("/etc/passwd")
    (folder / "OUTSIDE.csv").symlink_to(outside)
    (folder / "ALIAS.csv").symlink_to(folder / "GOOD.csv")
    (folder / "GONE.csv").symlink_to(tmp_path / "nowhere.csv")
    (folder / "SUB.csv").mkdir()
    assert sources.list_tickers("csv", folder) == ["GOOD"]
    result = sources.fetch_prices("csv", None, csv_dir=folder)
    link = "is a symbolic link: copy the file itself into the folder"
    assert result.failures == {
        "ALIAS": f"ALIAS.csv {link}",
        "GONE": f"GONE.csv {link}",
        "OUTSIDE": f"OUTSIDE.csv {link}",
        "PASSWD": f"PASSWD.csv {link}",
        "SUB": "SUB.csv is not a regular file: remove it from the folder",
    }
    assert result.prices["ticker"].unique().tolist() == ["GOOD"]
    assert "PASSWD" in sources.fetch_prices("csv", ["PASSWD"], csv_dir=folder).failures


def test_a_folder_without_one_usable_csv_is_bad_input_in_one_line(tmp_path):
    write(tmp_path, "MY FILE.csv", YAHOO_EXPORT)
    (tmp_path / "PASSWD.csv").symlink_to("/etc/passwd")
    with pytest.raises(BadInput) as error:
        sources.list_tickers("csv", tmp_path)
    message = str(error.value)
    assert message.startswith(f"CSV folder '{tmp_path}' has no usable <TICKER>.csv file: ")
    assert "'MY FILE.csv' skipped" in message and message.endswith("(and 1 more)")
    assert "\n" not in message
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadInput, match="has no <TICKER>.csv file: add Yahoo Finance exports"):
        sources.list_tickers("csv", empty)


# --- yfinance -----------------------------------------------------------------------------------


@pytest.fixture
def fake(monkeypatch) -> yahoo.FakeYahoo:
    """Yahoo as a fake network under yfinance, with retries that do not wait."""
    for name in ("RETRY_WAIT_INITIAL", "RETRY_WAIT_MAX", "RETRY_JITTER"):
        monkeypatch.setattr(sources, name, 0.0)
    monkeypatch.setattr(sources, "RETRY_ATTEMPTS", 3)
    return yahoo.FakeYahoo().install(monkeypatch)


def fetch_yahoo(tickers, start="2024-02-01", end="2024-04-30", now=AFTER_CLOSE):
    return sources.fetch_prices("yfinance", tickers, start=start, end=end, now=now)


def test_yfinance_bars_become_session_dates_across_dst(fake):
    days = pd.bdate_range("2024-03-04", "2024-03-15")  # New York moves to EDT on 2024-03-10
    bars = yahoo.make_bars(days)
    fake.serve("AAPL", bars)
    result = fetch_yahoo(["AAPL"])
    assert result.failures == {}
    prices = result.prices.set_index("date")
    assert prices.index.tolist() == list(days)
    assert prices.index.dtype == "datetime64[ns]" and prices.index.tz is None
    assert prices["close"].tolist() == bars["close"].tolist()
    assert prices["adj_close"].tolist() == bars["adj_close"].tolist()
    assert prices["volume"].tolist() == bars["volume"].astype(float).tolist()


def test_yfinance_london_bars_keep_london_dates(fake):
    days = pd.bdate_range("2024-03-25", "2024-04-05").drop(
        pd.to_datetime(["2024-03-29", "2024-04-01"])
    )
    fake.serve("VOD.L", yahoo.make_bars(days, first_close=70.0), tz="Europe/London")
    result = fetch_yahoo(["VOD.L"])
    assert result.prices["date"].tolist() == list(days)


def test_yfinance_split_and_dividend_events(fake):
    days = pd.bdate_range("2024-03-04", "2024-03-15")
    fake.serve(
        "AAPL", yahoo.make_bars(days), dividends={"2024-03-08": 0.24}, splits={"2024-03-12": "4:1"}
    )
    prices = fetch_yahoo(["AAPL"]).prices.set_index("date")
    assert prices.loc[prices["stock_splits"] != 0, "stock_splits"].to_dict() == {
        pd.Timestamp("2024-03-12"): 4.0
    }
    assert prices.loc[prices["dividends"] != 0, "dividends"].to_dict() == {
        pd.Timestamp("2024-03-08"): 0.24
    }


def test_yfinance_window_is_inclusive(fake):
    days = pd.bdate_range("2024-03-04", "2024-03-15")
    fake.serve("AAPL", yahoo.make_bars(days))
    prices = fetch_yahoo(["AAPL"], start="2024-03-06", end="2024-03-12").prices
    assert prices["date"].min() == pd.Timestamp("2024-03-06")
    assert prices["date"].max() == pd.Timestamp("2024-03-12")


def test_yfinance_drops_todays_unfinished_bar(fake):
    days = pd.bdate_range("2024-03-11", "2024-03-15")
    live = pd.Timestamp("2024-03-15 11:00", tz="America/New_York")
    times = yahoo.open_times(days[:-1]) + [int(live.timestamp())]
    fake.serve("AAPL", yahoo.make_bars(days), timestamps=times)
    during = fetch_yahoo(["AAPL"], end=None, now=live + pd.Timedelta(minutes=5))
    assert during.prices["date"].max() == pd.Timestamp("2024-03-14")
    after = fetch_yahoo(
        ["AAPL"], end=None, now=pd.Timestamp("2024-03-15 16:30", tz="America/New_York")
    )
    assert after.prices["date"].max() == pd.Timestamp("2024-03-15")


def test_yfinance_drops_non_session_bars(fake):
    days = pd.DatetimeIndex(["2024-03-27", "2024-03-28", "2024-03-29", "2024-04-01"])  # Good Friday
    fake.serve("AAPL", yahoo.make_bars(days))
    assert fetch_yahoo(["AAPL"]).prices["date"].tolist() == list(
        days.drop(pd.Timestamp("2024-03-29"))
    )


def test_yfinance_duplicate_timestamps_are_deduplicated(fake):
    days = pd.bdate_range("2024-03-11", "2024-03-15")
    bars = yahoo.make_bars(days)
    doubled = pd.concat([bars.iloc[:3], bars.iloc[2:]])  # 2024-03-13 twice
    fake.serve_json("AAPL", yahoo.chart("AAPL", doubled))
    prices = fetch_yahoo(["AAPL"]).prices
    assert prices["date"].tolist() == list(days)


def test_yfinance_empty_answer_fails_alone(fake):
    fake.serve_json("GONE", yahoo.empty_chart("GONE"))
    fake.serve("AAPL", yahoo.make_bars(pd.bdate_range("2024-03-11", "2024-03-15")))
    result = fetch_yahoo(["GONE", "AAPL"], start="2024-03-01", end="2024-03-15")
    assert result.failures == {
        "GONE": "yfinance returned no rows for 'GONE' between 2024-03-01 and 2024-03-15: "
        "the symbol may be wrong or delisted, or Yahoo may be unreachable"
    }
    assert set(result.prices["ticker"]) == {"AAPL"}


def test_yfinance_unknown_symbol_fails_quietly_without_retry(fake, monkeypatch, capfd):
    calls = []
    fetch_history = sources._fetch_history
    monkeypatch.setattr(sources, "_fetch_history", lambda *a: calls.append(a) or fetch_history(*a))
    result = fetch_yahoo(["NOSUCH"])
    assert len(calls) == 1  # Yahoo's 404 is an answer, not a transient error
    assert result.failures["NOSUCH"].startswith("yfinance returned no rows for 'NOSUCH'")
    assert capfd.readouterr().err == ""  # yfinance's own error printing is silenced
    assert logging.getLogger("yfinance").level >= logging.CRITICAL


def test_yfinance_rate_limit_is_retried_then_fails_alone(fake):
    fake.rate_limit("MSFT")
    fake.serve("AAPL", yahoo.make_bars(pd.bdate_range("2024-03-11", "2024-03-15")))
    result = fetch_yahoo(["MSFT", "AAPL"])
    assert result.failures == {
        "MSFT": "Yahoo rate-limited 'MSFT' (HTTP 429) on all 3 attempts: try again later"
    }
    # yfinance itself re-sends a 429 once with its other cookie strategy: two requests an attempt,
    # one in the batch, then three alone.
    assert sum(symbol == "MSFT" for symbol, _ in fake.chart_requests) == (1 + 3) * 2
    assert set(result.prices["ticker"]) == {"AAPL"}


def test_yfinance_rate_limit_that_clears_succeeds(fake):
    fake.serve("MSFT", yahoo.make_bars(pd.bdate_range("2024-03-11", "2024-03-15")))
    fake.rate_limit("MSFT", times=2)
    result = fetch_yahoo(["MSFT"])
    assert result.failures == {} and len(result.prices) == 5


def test_yfinance_network_error_is_retried_then_fails_alone(fake):
    fake.cut_off("MSFT")
    result = fetch_yahoo(["MSFT"])
    assert result.failures["MSFT"].startswith("could not reach Yahoo for 'MSFT' in 3 attempts")
    assert sum(symbol == "MSFT" for symbol, _ in fake.chart_requests) == 3


def test_yfinance_batches_give_each_ticker_what_it_gets_alone(fake, monkeypatch):
    from yfinance.data import YfData

    days = pd.bdate_range("2024-03-04", "2024-03-15")
    fake.serve("AAPL", yahoo.make_bars(days), dividends={"2024-03-08": 0.24})
    fake.serve("VOD.L", yahoo.make_bars(days[2:], first_close=70.0), tz="Europe/London")
    fake.serve("MSFT", yahoo.make_bars(days[:-3], seed=2), splits={"2024-03-06": "2:1"})
    alone = [fetch_yahoo([ticker]) for ticker in ("AAPL", "VOD.L", "MSFT", "NOSUCH")]
    batches, pauses = [], []
    download = sources._download_batch
    monkeypatch.setattr(
        sources, "_download_batch", lambda b, *a: batches.append(b) or download(b, *a)
    )
    monkeypatch.setattr(sources, "sleep", pauses.append)
    monkeypatch.setattr(sources, "BATCH_SIZE", 3)
    alone_requests = pd.Series([symbol for symbol, _ in fake.chart_requests]).value_counts()
    fake.chart_requests.clear()
    YfData.cache_get.cache_clear()  # yfinance memoises past windows: ask Yahoo again
    together = fetch_yahoo(["AAPL", "VOD.L", "MSFT", "NOSUCH"])
    assert batches == [["AAPL", "VOD.L", "MSFT"], ["NOSUCH"]]
    assert len(pauses) == 1 and 0 < pauses[0] <= sources.BATCH_INTERVAL  # the rate limit
    expected = pd.concat([result.prices for result in alone]).sort_values(["ticker", "date"])
    pd.testing.assert_frame_equal(together.prices, expected.reset_index(drop=True))
    assert together.failures == alone[3].failures  # the unknown symbol fails alone, its reason
    requests = pd.Series([symbol for symbol, _ in fake.chart_requests]).value_counts()
    served = ["AAPL", "VOD.L", "MSFT"]  # no second try for a ticker its batch served
    assert requests[served].tolist() == alone_requests[served].tolist()


def test_yfinance_needs_tickers_and_known_suffixes(fake):
    with pytest.raises(BadInput, match="give --tickers"):
        sources.fetch_prices("yfinance", None)
    with pytest.raises(InvalidTicker, match="no exchange calendar"):
        fetch_yahoo(["AAPL", "VOD.XX"])
    assert fake.chart_requests == []


def test_yfinance_caches_live_in_temp_not_repo(fake):
    from yfinance.cache import _TzDBManager

    fake.serve("AAPL", yahoo.make_bars(pd.bdate_range("2024-03-11", "2024-03-15")))
    fetch_yahoo(["AAPL"])
    location = Path(_TzDBManager.get_location()).resolve()
    assert location.is_relative_to(Path(tempfile.gettempdir()).resolve())
    assert not location.is_relative_to(REPO_ROOT)


def test_csv_duplicate_dates_are_kept_for_validation_to_reject(tmp_path):
    from stockcast.validate import validate_prices

    (tmp_path / "DUP.csv").write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2013-02-28,10,11,9,10.5,10.5,100\n"
        "2013-03-01,10,11,9,10.5,10.5,100\n"
        "2013-03-01,10,12,9,11.5,11.5,100\n"
    )
    fetched = sources.fetch_prices("csv", ["DUP"], csv_dir=tmp_path)
    assert len(fetched.prices) == 3
    _, failures = validate_prices(fetched.prices)
    assert failures["DUP"].startswith("DUP has 1 duplicated date(s), first 2013-03-01")


# --- the command line: a bad CSV folder exits 2 in one line before anything is written ---------

SESSIONS_ROWS = "".join(f"2013-02-{day:02d},10,11,9,10.5,10.5,1000\n" for day in (25, 26, 27, 28))
HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"


def bad_folder(tmp_path: Path, case: str) -> Path:
    """A CSV folder with nothing usable in it, one way per case."""
    folder = tmp_path / "csv"
    folder.mkdir()
    if case == "names":
        write(folder, "MY FILE.csv", HEADER + SESSIONS_ROWS)
        write(folder, "..csv", HEADER + SESSIONS_ROWS)
    elif case == "symlink":
        (folder / "PASSWD.csv").symlink_to("/etc/passwd")
    elif case == "day-first":
        days = pd.bdate_range("2013-01-02", "2013-03-01")
        write(
            folder,
            "MSFT.csv",
            HEADER + "".join(f"{d:%d/%m/%Y},10,11,9,10.5,10.5,1\n" for d in days),
        )
    elif case in ("1e309", "1e308"):
        write(
            folder,
            "MSFT.csv",
            HEADER
            + SESSIONS_ROWS.replace("10.5,10.5,1000\n2013-02-28", f"{case},10.5,1000\n2013-02-28"),
        )
    elif case == "weekend":
        write(folder, "MSFT.csv", HEADER + SESSIONS_ROWS + "2013-03-02,10,11,9,10.5,10.5,1000\n")
    elif case == "file":
        return write(folder, "MSFT.csv", HEADER + SESSIONS_ROWS)
    return folder


UNUSABLE = {
    "names": "has no usable <TICKER>.csv file: '..csv' skipped: ticker '.' is not a valid",
    "symlink": "has no usable <TICKER>.csv file: PASSWD.csv is a symbolic link",
    "day-first": "MSFT.csv has a Date that is not YYYY-MM-DD on line 2: '02/01/2013'",
    "1e309": "MSFT has an implausible close on 2013-02-27 (inf)",
    "1e308": "MSFT has an implausible close on 2013-02-27 (1e+308)",
    "weekend": "MSFT has 1 row(s) on days that are not XNYS sessions, first 2013-03-02",
    "file": "MSFT.csv is a file, not a folder",
}


@pytest.mark.parametrize("case", UNUSABLE)
def test_the_planner_refuses_an_unusable_csv_folder_in_one_line(outputs, tmp_path, capsys, case):
    from runner.cli import main

    folder = bad_folder(tmp_path, case)
    assert main(["daily", "--source", "csv", "--csv-dir", str(folder)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1
    assert UNUSABLE[case] in captured.err and captured.out == ""
    assert not (outputs / "runs").exists() and not (outputs / "stockcast.db").exists()


@pytest.mark.parametrize("case", ["day-first", "symlink"])
def test_cli_refuses_an_unusable_csv_folder_and_writes_nothing(tmp_path, case):
    """The same, as an operator meets it: a subprocess, exit status 2, one line, no run."""
    from conftest import pipeline_env, run_cli

    outputs = tmp_path / "outputs"
    folder = bad_folder(tmp_path, case)
    result = run_cli(
        "daily", "--source", "csv", "--csv-dir", str(folder), env=pipeline_env(outputs)
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert UNUSABLE[case] in result.stderr and result.stdout == ""
    assert not (outputs / "runs").exists() and not (outputs / "stockcast.db").exists()
