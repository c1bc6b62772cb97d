"""Ticker universes: a bundled list by name (`sp500`) or any text file of symbols.

A universe file holds one symbol a line; `#` starts a comment (a whole line or the rest of one)
and blank lines are skipped. A line of several words is refused rather than split: a file of
company names or a CSV would otherwise pass as a list of odd symbols. Symbols are upper-cased; a
repeated symbol is kept once (its first line) and reported, since a hand-edited list of 500
names repeats one now and then and running it twice would be waste, not a different request.
A symbol that is not a ticker, or whose suffix has no exchange calendar, is BadInput naming
the file, the line and the symbol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from stockcast.config import check_ticker, exchange_for
from stockcast.errors import BadInput, InvalidTicker

BUNDLED = files("stockcast").joinpath("universes")


@dataclass(frozen=True)
class Universe:
    """The symbols of a universe in file order, and the repeats left out (symbol -> line)."""

    name: str
    tickers: list[str]
    repeated: dict[str, int] = field(default_factory=dict)

    def note(self) -> str:
        """One line for the run log: how many symbols, and the repeats dropped."""
        text = f"universe {self.name}: {len(self.tickers)} symbols"
        if self.repeated:
            shown = ", ".join(f"{s} (line {n})" for s, n in list(self.repeated.items())[:5])
            more = f" and {len(self.repeated) - 5} more" if len(self.repeated) > 5 else ""
            text += f"; repeated symbols kept once: {shown}{more}"
        return text


def bundled_universes() -> list[str]:
    """The names of the universes shipped in `stockcast/universes/`."""
    names = (path.name for path in BUNDLED.iterdir())
    return sorted(name.removesuffix(".txt") for name in names if name.endswith(".txt"))


def is_universe(text: str, folder: Path | None = None) -> bool:
    """Whether a settings value names a universe (a bundled name, or a path: it has a slash or
    ends in .txt) rather than comma-separated symbols."""
    return text in bundled_universes() or "/" in text or text.endswith(".txt")


def resolve(text: str, folder: Path | None = None) -> str:
    """A bundled name as it is, a file as an absolute path (relative ones from `folder`)."""
    return text if text in bundled_universes() else str(_path(text, folder).resolve())


def load_universe(name_or_file: str, folder: Path | None = None) -> Universe:
    """The universe a bundled name or a file names; a relative path is read from `folder`
    (the settings file's folder) when given, else from the working directory."""
    if name_or_file in bundled_universes():
        text = BUNDLED.joinpath(f"{name_or_file}.txt").read_text()
        return parse_universe(text, name_or_file)
    path = _path(name_or_file, folder)
    if not path.is_file():
        raise BadInput(
            f"universe {name_or_file!r} is neither a bundled universe "
            f"({', '.join(bundled_universes())}) nor a file: give one of those, or a text file "
            "of symbols"
        )
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(f"universe file {path} cannot be read ({error}): fix the file") from None
    return parse_universe(text, str(path))


def parse_universe(text: str, name: str) -> Universe:
    """The symbols of a universe file's text (see the module docstring); `name` names it in
    errors."""
    tickers: dict[str, int] = {}
    repeated: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        symbol = line.partition("#")[0].strip()
        if not symbol:
            continue
        ticker = _check_symbol(symbol, name, number)
        if ticker in tickers:
            repeated.setdefault(ticker, number)
        else:
            tickers[ticker] = number
    if not tickers:
        raise BadInput(f"universe {name} has no symbols: add one a line (e.g. AAPL)")
    return Universe(name, list(tickers), repeated)


def _check_symbol(symbol: str, name: str, number: int) -> str:
    try:
        ticker = check_ticker(symbol)
        exchange_for(ticker)
    except InvalidTicker as error:
        reason = (
            str(error)
            .removeprefix(f"ticker {symbol!r} ")
            .removeprefix(f"ticker {symbol.upper()!r} ")
        )
        raise BadInput(
            f"universe {name} line {number}: {symbol!r} {reason}; write one symbol a line, or "
            "remove the line"
        ) from None
    return ticker


def _path(text: str, folder: Path | None) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() or folder is None else folder / path
