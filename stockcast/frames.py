"""The column lists every stage agrees on, and the one check that a frame carries them.

Prices are canonical once a source has read them: one row per (ticker, session date) with
`PRICE_COLUMNS`; models see `FEATURE_COLUMNS` (see features.py); forecasts and predictions are
defined in predict.py, next to the arithmetic that turns one into the other.
"""

from __future__ import annotations

import pandas as pd

# What validation requires of every price row (dividends and splits are optional there).
BASE_PRICE_COLUMNS = ("ticker", "date", "open", "high", "low", "close", "adj_close", "volume")
# The canonical prices frame: the base columns and the corporate actions a source reports.
PRICE_COLUMNS = (*BASE_PRICE_COLUMNS, "dividends", "stock_splits")
# The per-row numbers of a price row, and those that are prices (volume is a count).
VALUE_COLUMNS = PRICE_COLUMNS[2:]
PRICE_FIELDS = ("open", "high", "low", "close", "adj_close")


def require_columns(frame: pd.DataFrame, columns, what: str) -> None:
    """Raise KeyError naming the columns `what` needs and the frame lacks."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise KeyError(f"{what} needs columns {missing}; the frame has {list(frame.columns)}")


def canonical_prices(frame: pd.DataFrame, dedupe: bool = True) -> pd.DataFrame:
    """Columns, dtypes and order of the canonical frame; with `dedupe` the last duplicate wins.

    A provider's repeated bar is de-duplicated; a file's repeated date is kept for validation
    to reject, since which of the two rows is right cannot be known.
    """
    dates = pd.to_datetime(frame["date"])
    if dates.dt.tz is not None:
        dates = dates.dt.tz_localize(None)
    frame = frame.assign(
        ticker=frame["ticker"].astype(str),
        date=dates.dt.normalize().astype("datetime64[ns]"),
    ).astype(dict.fromkeys(VALUE_COLUMNS, "float64"))
    if dedupe:
        frame = frame.drop_duplicates(["ticker", "date"], keep="last")
    return frame[list(PRICE_COLUMNS)].sort_values(
        ["ticker", "date"], ignore_index=True, kind="stable"
    )


def empty_prices() -> pd.DataFrame:
    """A canonical prices frame with no row."""
    return canonical_prices(pd.DataFrame(columns=list(PRICE_COLUMNS)))
