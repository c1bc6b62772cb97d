"""The `csv` source: a folder of Yahoo Finance exports, `<TICKER>.csv` each, read into canonical
prices (through `sources.fetch_prices`, the one entry to every source).

The folder is listed once: a badly named, linked or doubled file is refused alone, with its
reason, and the good files stay usable. A file whose layout, dates or numbers cannot be read
fails its ticker with one line naming the file, the row and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from stockcast.config import check_ticker
from stockcast.errors import BadInput, InvalidTicker, SourceError, single_line
from stockcast.frames import PRICE_COLUMNS, canonical_prices

# A Yahoo Finance export; `Adj Close` is optional, and a yfinance `to_csv` adds the two actions.
CSV_REQUIRED = ("Date", "Open", "High", "Low", "Close", "Volume")
CSV_NAMES = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
    "Dividends": "dividends",
    "Stock Splits": "stock_splits",
}
CSV_LAYOUT = "Date,Open,High,Low,Close[,Adj Close],Volume"

# Dates as Yahoo's export writes them (YYYY-MM-DD), optionally with the local midnight and UTC
# offset that yfinance's `history().to_csv()` adds. Anything else is refused: dd/mm/yyyy and
# mm/dd/yyyy cannot be told apart, and another time of day means intraday bars or a timestamp
# moved to another zone, whose date may be the session before.
ISO_DATE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})(?:[ T]00:00(?::00(?:\.0+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$"
)

# run_item.ticker holds at most 32 characters: the longest label a badly named file gets.
FILE_LABEL_LENGTH = 32


@dataclass
class CsvFolder:
    """A folder of `<TICKER>.csv` files: the file of each usable ticker, and the reason every other
    `*.csv` entry is refused, keyed by its ticker or, when its name is no ticker, by that name."""

    path: Path
    files: dict[str, Path]
    problems: dict[str, str]


def list_folder(csv_dir) -> CsvFolder:
    """List the folder once; a bad entry is refused alone, the good ones stay usable."""
    folder = _check_folder(csv_dir)
    try:
        entries = sorted(path for path in folder.iterdir() if path.suffix.lower() == ".csv")
    except OSError as err:
        raise BadInput(
            f"CSV folder '{folder}' cannot be read ({err.strerror}): check its permissions"
        ) from err
    named, problems = {}, {}
    for path in entries:
        try:
            named.setdefault(_ticker_of(path), []).append(path)
        except InvalidTicker as err:
            problems[_file_label(path.name)] = f"{path.name!r} skipped: {err}; rename the file"
    files = {}
    for ticker, paths in named.items():
        problem = _file_problem(ticker, paths)
        if problem:
            problems[ticker] = problem
        else:
            files[ticker] = paths[0]
    return CsvFolder(folder, files, problems)


def _check_folder(csv_dir) -> Path:
    if csv_dir is None:
        raise BadInput("the csv source needs a folder: give --csv-dir DIR with <TICKER>.csv files")
    folder = Path(csv_dir).expanduser()
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise BadInput(
            f"CSV folder '{folder}' {what}: give --csv-dir the folder that holds <TICKER>.csv files"
        )
    return folder


def _ticker_of(path: Path) -> str:
    """The ticker a file's stem names, exactly (no spaces around it); else InvalidTicker."""
    if path.stem != path.stem.strip():
        raise InvalidTicker(f"ticker {path.stem!r} has spaces around it")
    return check_ticker(path.stem)


def _file_problem(ticker: str, paths: list[Path]) -> str | None:
    """Why a ticker's file cannot be read, or None.

    Every symbolic link is refused, inside the folder or out: what it points to can change
    between listing and reading, one leading out can expose any file the user can read (its
    first cells end up in error messages), and one leading in only repeats another ticker.
    """
    if len(paths) > 1:
        names = ", ".join(path.name for path in paths)
        return f"{len(paths)} files are named after {ticker}: {names}; keep one of them"
    path = paths[0]
    if path.is_symlink():
        return f"{path.name} is a symbolic link: copy the file itself into the folder"
    if not path.is_file():
        return f"{path.name} is not a regular file: remove it from the folder"
    return None


def _file_label(name: str) -> str:
    """A file name fit to stand for a ticker in failures: printable, at most 32 characters."""
    label = "".join(char if char.isprintable() else repr(char)[1:-1] for char in name)
    return label if len(label) <= FILE_LABEL_LENGTH else label[: FILE_LABEL_LENGTH - 1] + "…"


def no_usable_file(folder: CsvFolder) -> str:
    if not folder.problems:
        return (
            f"CSV folder '{folder.path}' has no <TICKER>.csv file: add Yahoo Finance exports "
            "named after their tickers, e.g. AAPL.csv"
        )
    first, *others = folder.problems.values()
    more = f" (and {len(others)} more)" if others else ""
    return f"CSV folder '{folder.path}' has no usable <TICKER>.csv file: {first}{more}"


def read_ticker(folder: CsvFolder, ticker: str, start, end) -> pd.DataFrame:
    if ticker in folder.problems:
        raise SourceError(folder.problems[ticker])
    if ticker not in folder.files:
        raise SourceError(f"no {ticker}.csv in the CSV folder: add the file or drop the ticker")
    return _read_yahoo_csv(folder.files[ticker], ticker)


def _read_yahoo_csv(path: Path, ticker: str) -> pd.DataFrame:
    """One Yahoo Finance export as canonical prices; an unreadable file raises SourceError."""
    raw = _read_raw_csv(path)
    dates = _parse_dates(raw["Date"], path.name)
    frame = pd.DataFrame({"ticker": ticker, "date": dates})
    for column, name in CSV_NAMES.items():
        if column in raw:
            frame[name] = _parse_numbers(raw[column], dates, path.name, column)
    frame = frame.assign(adj_close=frame.get("adj_close", frame["close"]))
    return canonical_prices(
        frame.reindex(columns=list(PRICE_COLUMNS), fill_value=0.0), dedupe=False
    )


def _read_raw_csv(path: Path) -> pd.DataFrame:
    """The file as text cells, headers in Yahoo's spelling; checks emptiness and the layout."""
    try:
        # Text cells, so a value that is not a number can be reported rather than lost.
        raw = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except pd.errors.EmptyDataError as err:
        raise SourceError(f"{path.name} is empty") from err
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise SourceError(f"{path.name} is not a readable CSV file: {single_line(err)}") from err
    raw = raw.rename(columns=_yahoo_header)
    missing = [column for column in CSV_REQUIRED if column not in raw]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        raise SourceError(
            f"{path.name} is missing {noun} {', '.join(missing)}: "
            f"expected a Yahoo Finance export with {CSV_LAYOUT}"
        )
    if raw.empty:
        raise SourceError(f"{path.name} is empty: it has a header but no rows")
    return raw


def _yahoo_header(name: str) -> str:
    """'adj_close', ' ADJ CLOSE' and 'Adj Close' all mean Yahoo's 'Adj Close'."""
    key = " ".join(str(name).replace("_", " ").split()).lower()
    known = {column.lower(): column for column in (*CSV_REQUIRED, *CSV_NAMES)}
    return known.get(key, name)


def _parse_dates(cells: pd.Series, filename: str) -> pd.Series:
    """Session dates of ISO cells (see ISO_DATE); the first other cell fails the file."""
    text = cells.fillna("").str.strip()
    # The UTC offset is dropped: yfinance stamps a bar at the exchange's local midnight.
    dates = pd.to_datetime(text.str.extract(ISO_DATE)[0], format="%Y-%m-%d", errors="coerce")
    bad = dates.isna()
    if bad.any():
        row = bad.idxmax()
        raise SourceError(
            f"{filename} has a Date that is not YYYY-MM-DD on line {row + 2}: {text[row]!r}; "
            "write dates as YYYY-MM-DD, as Yahoo exports them"
        )
    return dates


def _parse_numbers(cells: pd.Series, dates: pd.Series, filename: str, column: str) -> pd.Series:
    """Numbers of a column; blank or 'null' cells become NaN, anything else unparsable fails."""
    numbers = pd.to_numeric(cells.str.strip(), errors="coerce")
    bad = numbers.isna() & cells.notna()
    if bad.any():
        row = bad.idxmax()
        more = f" (and {bad.sum() - 1} more)" if bad.sum() > 1 else ""
        raise SourceError(
            f"{filename} has a non-numeric {column} on {dates[row].date()}: {cells[row]!r}{more}"
        )
    return numbers.astype("float64")
