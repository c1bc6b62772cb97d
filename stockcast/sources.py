"""The only way to data providers: the bundled sample, a folder of Yahoo Finance CSV exports
(read in csv_source.py), and yfinance. Each answers the canonical price frame (frames.py) plus
one-line per-ticker failures.

Canonical prices: one row per (ticker, session date), sorted, with the columns of `PRICE_COLUMNS`;
`date` is the naive midnight of the exchange session; open/high/low/close as the provider trades
them (split-adjusted for Yahoo), `adj_close` also dividend-adjusted; everything else float64.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from dataclasses import dataclass, field
from functools import cache, partial
from importlib.resources import files
from pathlib import Path
from time import monotonic, sleep

import pandas as pd

from stockcast.calendar import last_closed_session, sessions
from stockcast.config import SAMPLE_TICKERS, check_tickers, exchange_for
from stockcast.csv_source import CSV_NAMES, list_folder, no_usable_file, read_ticker
from stockcast.errors import BadInput, RateLimited, SourceError, single_line
from stockcast.frames import PRICE_COLUMNS, canonical_prices, empty_prices

SOURCES = ("sample", "csv", "yfinance")
SAMPLE_FILE = "sample_prices.csv.gz"
# Rate limits and network errors are retried with exponential backoff plus jitter, bounded in
# attempts and total time; module-level so tests (and impatient operators) can shrink them.
RETRY_ATTEMPTS = 4
RETRY_WAIT_INITIAL = 2.0
RETRY_WAIT_MAX = 30.0
RETRY_JITTER = 2.0
RETRY_TOTAL_SECONDS = 120.0
# yfinance downloads many tickers per call (one request each, on its own threads); batches start
# at least BATCH_INTERVAL seconds apart, which bounds the request rate of a 500-ticker fetch.
BATCH_SIZE = 50
BATCH_THREADS = 4
BATCH_INTERVAL = 2.0
# yfinance caches each symbol's timezone and Yahoo's cookie in SQLite files: keep them in the
# system temp folder, never in the repository or the outputs.
YFINANCE_CACHE_DIR = Path(tempfile.gettempdir()) / "stockcast-yfinance"


@dataclass
class FetchResult:
    """Prices of every ticker that succeeded, and a one-line reason for every ticker that failed."""

    prices: pd.DataFrame
    failures: dict[str, str] = field(default_factory=dict)

    def save(self, path) -> None:
        """One parquet file, the failures in its metadata: a run's read of its source, handed
        from the runner to ingest so that the source is read once a run."""
        prices = self.prices.copy()
        prices.attrs = {"failures": dict(self.failures)}
        prices.to_parquet(path)

    @classmethod
    def load(cls, path) -> FetchResult:
        prices = pd.read_parquet(path)
        failures = prices.attrs.pop("failures", {})
        return cls(prices, dict(failures))


def fetch_prices(
    source: str,
    tickers: list[str] | None,
    start=None,
    end=None,
    csv_dir=None,
    now: pd.Timestamp | None = None,
    prefetched=None,
) -> FetchResult:
    """Daily prices of `tickers` (None: the source's universe) from `start` to `end`, inclusive;
    with `prefetched` (a FetchResult saved by the runner), from that read instead of the source.

    Bad input for the whole command (unknown source, invalid ticker, missing folder, bad dates)
    raises BadInput; a ticker the source cannot serve is recorded in `failures` and skipped.
    A CSV folder's unusable files (bad names, links, two files for one ticker) are failures of
    every fetch from it, so they are reported until they are fixed.
    """
    if prefetched is not None:  # the run's one read of the source, saved by the runner
        saved = FetchResult.load(prefetched)
        read, failures = partial(_read_saved, saved), dict(saved.failures)
    else:
        read, failures = _reader(source, csv_dir, now)
    tickers = list_tickers(source, csv_dir) if tickers is None else check_tickers(tickers)
    for ticker in tickers:
        exchange_for(ticker)  # an unknown suffix is bad input, before anything is fetched
    start, end = _parse_day(start, "start"), _parse_day(end, "end")
    if start is not None and end is not None and start > end:
        raise BadInput(f"start {start.date()} is after end {end.date()}: swap them")
    if source == "yfinance" and prefetched is None:
        read = partial(read, batched=_download_batches(tickers, start, end))
    frames = []
    for ticker in tickers:
        try:
            prices = _clip(read(ticker, start, end), start, end)
            frames.append(_require_rows(prices, source, start, end))
        except SourceError as err:
            failures[ticker] = single_line(err)
    prices = pd.concat(frames, ignore_index=True) if frames else empty_prices()
    return FetchResult(prices.sort_values(["ticker", "date"], ignore_index=True), failures)


def list_tickers(source: str, csv_dir=None) -> list[str]:
    """The tickers a source serves without being told: the sample's four, or the CSV file stems."""
    if source == "sample":
        return list(SAMPLE_TICKERS)
    if source == "csv":
        folder = list_folder(csv_dir)
        if not folder.files:
            raise BadInput(no_usable_file(folder))
        return sorted(folder.files)
    if source == "yfinance":
        raise BadInput("the yfinance source has no ticker universe: give --tickers, e.g. AAPL,MSFT")
    raise BadInput(_unknown_source(source))


def _reader(source: str, csv_dir, now):
    """The per-ticker read function of a source, (ticker, start, end) -> canonical prices, and
    the failures known before reading anything (a CSV folder's unusable files)."""
    if source == "sample":
        return _read_sample, {}
    if source == "csv":
        folder = list_folder(csv_dir)
        return partial(read_ticker, folder), dict(folder.problems)
    if source == "yfinance":
        return partial(_read_yfinance, now=now), {}
    raise BadInput(_unknown_source(source))


def _unknown_source(source) -> str:
    return f"unknown source {source!r}: use one of {', '.join(SOURCES)}"


def _parse_day(value, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        day = pd.Timestamp(value)
    except (TypeError, ValueError):
        day = pd.NaT
    if pd.isna(day):
        raise BadInput(f"{name} date {value!r} is not a date: use YYYY-MM-DD")
    return (day.tz_localize(None) if day.tzinfo else day).normalize()


def _clip(prices: pd.DataFrame, start, end) -> pd.DataFrame:
    keep = pd.Series(True, index=prices.index)
    if start is not None:
        keep &= prices["date"] >= start
    if end is not None:
        keep &= prices["date"] <= end
    return prices[keep]


def _require_rows(prices: pd.DataFrame, source: str, start, end) -> pd.DataFrame:
    if prices.empty:
        raise SourceError(f"no {source} rows {_window(start, end)}: widen the dates")
    return prices


def _window(start, end) -> str:
    first = start.date() if start is not None else "the first date"
    last = end.date() if end is not None else "today"
    return f"between {first} and {last}"


def _read_saved(saved: FetchResult, ticker: str, start, end) -> pd.DataFrame:
    if ticker in saved.failures:
        raise SourceError(saved.failures[ticker])
    rows = saved.prices[saved.prices["ticker"] == ticker]
    if rows.empty:
        raise SourceError(f"{ticker} is not in this run's read of its source: run it again")
    return rows.reset_index(drop=True)


# --- sample -------------------------------------------------------------------------------------


@cache
def _sample() -> pd.DataFrame:
    with files("stockcast").joinpath("data", SAMPLE_FILE).open("rb") as handle:
        return canonical_prices(pd.read_csv(handle, compression="gzip"))


def _read_sample(ticker: str, start, end) -> pd.DataFrame:
    prices = _sample()
    rows = prices[prices["ticker"] == ticker]
    if rows.empty:
        known = ", ".join(SAMPLE_TICKERS)
        raise SourceError(f"unknown ticker {ticker!r} in the sample: it has {known}")
    return rows.reset_index(drop=True)


# --- yfinance -----------------------------------------------------------------------------------


@cache
def _yfinance():
    """yfinance, configured once: exceptions raised (not printed), quiet logger, temp caches."""
    import yfinance

    yfinance.set_tz_cache_location(str(YFINANCE_CACHE_DIR))
    # Raised errors become one-line failures here; yfinance's own logging would repeat them.
    yfinance.config.debug.hide_exceptions = False
    logging.getLogger("yfinance").setLevel(logging.CRITICAL)
    return yfinance


def _read_yfinance(ticker: str, start, end, now=None, batched=None) -> pd.DataFrame:
    """A ticker's bars from its batch, else fetched alone (with backoff, and the reason it
    fails: a batch says nothing of why a ticker came back empty)."""
    history = (batched or {}).get(ticker)
    if history is None:
        history = _retry_transient(ticker, partial(_fetch_history, ticker, start, end))
    if history.empty:
        raise SourceError(_no_rows(ticker, start, end))
    return _closed_sessions(ticker, _from_history(ticker, history), now)


def _download_batches(tickers: list[str], start, end) -> dict[str, pd.DataFrame]:
    """ticker -> its bars, for the tickers that came back with bars from `yfinance.download`
    in batches of BATCH_SIZE; a batch lost to the network leaves its tickers to be fetched
    alone. One ticker gains nothing from a batch: {}."""
    histories: dict[str, pd.DataFrame] = {}
    started = None
    for first in range(0, len(tickers) if len(tickers) > 1 else 0, BATCH_SIZE):
        batch = tickers[first : first + BATCH_SIZE]
        if started is not None:  # the rate limit: batches start BATCH_INTERVAL apart
            sleep(max(0.0, BATCH_INTERVAL - (monotonic() - started)))
        started = monotonic()
        try:
            label = f"a batch of {len(batch)} tickers"
            table = _retry_transient(label, partial(_download_batch, batch, start, end))
        except SourceError:
            continue
        histories.update(_batch_histories(table, batch))
    return histories


def _download_batch(batch: list[str], start, end) -> pd.DataFrame:
    """yfinance.download of a batch: columns (ticker, Yahoo's name), one row per date of any."""
    yfinance = _yfinance()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return yfinance.download(
            batch,
            interval="1d",
            auto_adjust=False,
            actions=True,
            group_by="ticker",
            threads=BATCH_THREADS,
            progress=False,
            multi_level_index=True,
            **_history_window(start, end),
        )


def _batch_histories(table: pd.DataFrame, batch: list[str]) -> dict[str, pd.DataFrame]:
    """Each ticker's own rows of a batch table: the dates only other tickers traded dropped."""
    found = {}
    if table is None or not isinstance(table.columns, pd.MultiIndex):
        return found
    for ticker in set(batch) & set(table.columns.get_level_values(0)):
        history = table[ticker].rename_axis(columns=None)
        bars = [name for name in ("Open", "High", "Low", "Close", "Volume") if name in history]
        history = history.dropna(how="all", subset=bars)
        if not history.empty:
            found[ticker] = history.fillna({"Dividends": 0.0, "Stock Splits": 0.0})
    return found


def _history_window(start, end) -> dict:
    window = {"period": "max"} if start is None else {"start": start.strftime("%Y-%m-%d")}
    if end is not None:
        # yfinance's end is exclusive, ours inclusive.
        window["end"] = (end + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    return window


def _fetch_history(ticker: str, start, end) -> pd.DataFrame:
    """Yahoo's daily bars as yfinance returns them (tz-aware index, Yahoo's column names)."""
    yfinance = _yfinance()
    window = _history_window(start, end)
    try:
        with warnings.catch_warnings():
            # yfinance 1.7 calls pandas APIs that pandas 3.1 deprecates: its noise, not the user's.
            warnings.simplefilter("ignore", DeprecationWarning)
            return yfinance.Ticker(ticker).history(
                interval="1d", auto_adjust=False, actions=True, **window
            )
    except (yfinance.exceptions.YFTickerMissingError, yfinance._http.HTTPError) as err:
        # Yahoo's definite "no": no timezone, no bars, or a 404 from the quote-summary fallback
        # yfinance tries for a symbol it cannot place. Not worth retrying.
        raise SourceError(_no_rows(ticker, start, end)) from err


def _retry_transient(ticker: str, fetch):
    """`fetch()`, retried on rate limits and network errors; then a one-line SourceError."""
    import tenacity

    rate_limited = _yfinance().exceptions.YFRateLimitError
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type((rate_limited, OSError)),
        stop=tenacity.stop_after_attempt(RETRY_ATTEMPTS)
        | tenacity.stop_after_delay(RETRY_TOTAL_SECONDS),
        wait=tenacity.wait_exponential_jitter(
            multiplier=RETRY_WAIT_INITIAL, max=RETRY_WAIT_MAX, jitter=RETRY_JITTER
        ),
        reraise=True,
    )
    try:
        return retrying(fetch)
    except SourceError:
        raise
    except rate_limited as err:
        attempts = retrying.statistics.get("attempt_number", RETRY_ATTEMPTS)
        raise RateLimited(
            f"Yahoo rate-limited {ticker!r} (HTTP 429) on all {attempts} attempts: try again later"
        ) from err
    except OSError as err:
        attempts = retrying.statistics.get("attempt_number", RETRY_ATTEMPTS)
        raise SourceError(
            f"could not reach Yahoo for {ticker!r} in {attempts} attempts "
            f"({type(err).__name__}: {single_line(err)}): check the network and try again"
        ) from err
    except Exception as err:  # yfinance's parsing of an unexpected answer, for this ticker only
        raise SourceError(f"yfinance failed for {ticker!r}: {type(err).__name__}: {err}") from err


def _no_rows(ticker: str, start, end) -> str:
    return (
        f"yfinance returned no rows for {ticker!r} {_window(start, end)}: the symbol may be "
        "wrong or delisted, or Yahoo may be unreachable"
    )


def _from_history(ticker: str, history: pd.DataFrame) -> pd.DataFrame:
    """yfinance's frame as canonical prices, dated by the exchange's local session date."""
    # yfinance stamps daily bars at local midnight in the exchange's timezone (Yahoo's
    # exchangeTimezoneName), so dropping the zone keeps the session date; converting to UTC
    # first would move every bar east of Greenwich to the day before.
    index = pd.DatetimeIndex(history.index)
    dates = index.tz_localize(None) if index.tz is not None else index
    frame = history.rename(columns=CSV_NAMES).reset_index(drop=True)
    frame = frame.assign(ticker=ticker, date=dates)
    return canonical_prices(frame.reindex(columns=list(PRICE_COLUMNS), fill_value=0.0))


def _closed_sessions(ticker: str, prices: pd.DataFrame, now) -> pd.DataFrame:
    """Only bars of sessions of the ticker's exchange whose close has passed at `now`."""
    last_closed = last_closed_session(ticker, now)
    closed = sessions(ticker, prices["date"].min(), last_closed)
    return prices[prices["date"].isin(closed)].reset_index(drop=True)
