"""Per-ticker tables in the executed notebooks, readable at 500 tickers.

A stage report shows a per-ticker table whole up to FULL_TABLE_TICKERS tickers. Above that, a
500-row dump is neither readable nor small, so it shows how the tickers are distributed (each
numeric column's quantiles across rows) and the rows of the `worst` tickers only, and writes the
whole table as a CSV beside the report in the run folder, where the reader finds every row.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

FULL_TABLE_TICKERS = 20
WORST_TICKERS = 10
QUANTILES = (0.1, 0.5, 0.9)


@dataclass
class TickerTable:
    """What a notebook cell displays of a per-ticker table (Jupyter renders `_repr_html_`)."""

    table: pd.DataFrame
    worst: pd.Series | None = None  # per ticker, higher is worse
    label: str = ""  # what `worst` measures, for the heading
    saved_as: Path | None = None  # the whole table, when it is too long to show
    n_worst: int = WORST_TICKERS
    digits: int = 4  # decimals shown of the float columns

    @property
    def tickers(self) -> pd.Index:
        return pd.Index(ticker_column(self.table).unique())

    @property
    def shown_whole(self) -> bool:
        return len(self.tickers) <= FULL_TABLE_TICKERS

    def distribution(self) -> pd.DataFrame:
        """Each numeric column's count, mean and quantiles across the table's rows."""
        numeric = self.table.select_dtypes("number")
        if numeric.empty:
            return pd.DataFrame()
        return numeric.describe(percentiles=list(QUANTILES)).T.drop(columns="std")

    def worst_rows(self) -> pd.DataFrame:
        """Every row of the `n_worst` tickers with the highest `worst`, worst first."""
        if self.worst is None:
            return self.table.iloc[0:0]
        ranked = self.worst.dropna().sort_values(ascending=False).head(self.n_worst)
        tickers = ticker_column(self.table)
        order = tickers.map({ticker: rank for rank, ticker in enumerate(ranked.index)})
        rows = self.table[order.notna().to_numpy()]
        return rows.iloc[order.dropna().to_numpy().argsort(kind="stable")]

    def heading(self) -> str:
        text = f"{len(self.tickers)} tickers: the distribution across them, not every row."
        if self.saved_as is not None:
            text += f" All {len(self.table)} rows: {self.saved_as.name} in the run folder."
        if self.worst is not None:
            text += f" Then the {self.n_worst} worst by {self.label}."
        return text

    def parts(self) -> list[pd.DataFrame]:
        """The frames shown: the whole table, or its distribution then the worst tickers."""
        if self.shown_whole:
            return [self.rounded(self.table)]
        worst = [self.rounded(self.worst_rows())] if self.worst is not None else []
        return [self.distribution().round(self.digits), *worst]

    def rounded(self, frame: pd.DataFrame) -> pd.DataFrame:
        floats = frame.select_dtypes("floating").columns
        return frame.round(dict.fromkeys(floats, self.digits))

    def _repr_html_(self) -> str:
        if self.shown_whole:  # as pandas shows it, so a small run's report reads as before
            return self.parts()[0]._repr_html_()
        tables = [frame.to_html() for frame in self.parts()]
        return "\n".join([f"<p>{html.escape(self.heading())}</p>", *tables])

    def __repr__(self) -> str:
        tables = [repr(frame) for frame in self.parts()]
        return "\n\n".join(tables if self.shown_whole else [self.heading(), *tables])


def ticker_column(table: pd.DataFrame) -> pd.Series:
    """The table's tickers, one per row, from a `ticker` column or index level."""
    if "ticker" in table.columns:
        return table["ticker"].reset_index(drop=True)
    if "ticker" in (table.index.names or []):
        return pd.Series(table.index.get_level_values("ticker"))
    raise ValueError("a per-ticker table needs a `ticker` column or index level")


def show_tickers(
    table: pd.DataFrame,
    worst: pd.Series | None = None,
    label: str = "",
    save_to: Path | None = None,
    digits: int = 4,
) -> TickerTable:
    """`table` for a report: whole when it covers few tickers; else its distribution and the
    rows of the worst tickers (`worst`: a score per ticker, higher is worse, named by `label`),
    the whole table written to `save_to` (a CSV) for the reader who needs every row."""
    shown = TickerTable(table, worst, label, digits=digits)
    if not shown.shown_whole and save_to is not None:
        table.to_csv(save_to)
        shown.saved_as = Path(save_to)
    return shown


def some(tickers: list[str], shown: int = FULL_TABLE_TICKERS) -> str:
    """The first `shown` symbols, then how many more: a universe in one readable line."""
    more = len(tickers) - shown
    return ", ".join(tickers[:shown]) + (f" and {more} more" if more > 0 else "")
