"""Regenerate the bundled sample `stockcast/data/sample_prices.csv.gz` from bokeh-sampledata.

The source is `stocks.csv.gz` of the `bokeh-sampledata` package (Quandl WIKI prices, public
domain): unadjusted OHLC and volume plus a split- and dividend-adjusted `Adj Close`. This script
keeps AAPL, GOOG, IBM and MSFT, drops FB, and derives the corporate actions from the adjustment
factor adj_close / close:

- `stock_splits`: the factor ratio (today / yesterday) rounded to a simple fraction when it is
  at least 1.2 (or below 1, a reverse split), e.g. 2.0 on a 2:1 split's ex-date; 0.0 otherwise.
- `dividends`: the cash amount on the ex-date, D = close_{t-1} * (1 - 1 / ratio), which inverts
  the usual back-adjustment factor 1 - D / close_{t-1}; rounded to 4 decimals, 0.0 below noise.

Usage (the wheel is all it needs; nothing of bokeh is imported):

    pip download bokeh-sampledata --no-deps -d /tmp/bsd
    python scripts/make_sample.py /tmp/bsd/bokeh_sampledata-*.whl

The argument is the wheel or an extracted `stocks.csv.gz`. The output is byte-identical across
runs (gzip mtime 0), and the script refuses to write it if known corporate actions are missing.
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from stockcast.sources import PRICE_COLUMNS

OUTPUT = Path(__file__).resolve().parent.parent / "stockcast" / "data" / "sample_prices.csv.gz"
WHEEL_MEMBER = "bokeh_sampledata/_data/stocks.csv.gz"
KEEP = ("AAPL", "GOOG", "IBM", "MSFT")
COLUMNS = list(PRICE_COLUMNS)
# The factor is exact up to float error (~1e-13); the smallest real dividend moves it by ~1e-3.
FACTOR_NOISE = 1e-6
# A factor jump of 20 % or more is a split: no regular dividend is a fifth of the share price.
SPLIT_MIN_RATIO = 1.2
EXPECTED_SPLITS = {
    "AAPL": {"2000-06-21": 2.0, "2005-02-28": 2.0},
    "GOOG": {},
    "IBM": {},
    "MSFT": {"2003-02-18": 2.0},
}


def read_source(path: Path) -> pd.DataFrame:
    """The raw bokeh-sampledata stocks table, from a wheel or from stocks.csv.gz."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            data = wheel.read(WHEEL_MEMBER)
        return pd.read_csv(io.BytesIO(data), compression="gzip")
    return pd.read_csv(path)


def round_split(ratio: float) -> float:
    """A split ratio as the nearest simple fraction (2.0, 1.5, 0.1), from a noisy factor ratio."""
    return float(Fraction(ratio).limit_denominator(20))


def derive_actions(prices: pd.DataFrame) -> pd.DataFrame:
    """Add `dividends` and `stock_splits` to one ticker's rows from its adjustment factor."""
    factor = prices["adj_close"] / prices["close"]
    ratio = (factor / factor.shift(1)).fillna(1.0)
    is_split = (ratio >= SPLIT_MIN_RATIO) | (ratio < 1 - FACTOR_NOISE)
    splits = ratio.where(is_split, 0.0).map(lambda r: round_split(r) if r else 0.0)
    # What a split does not explain is a dividend, paid per post-split share.
    residual = ratio / splits.replace(0.0, 1.0)
    previous_close = prices["close"].shift(1) / splits.replace(0.0, 1.0)
    dividends = (previous_close * (1 - 1 / residual)).where(residual - 1 > FACTOR_NOISE, 0.0)
    return prices.assign(dividends=dividends.fillna(0.0).round(4), stock_splits=splits)


def make_sample(raw: pd.DataFrame) -> pd.DataFrame:
    """The bundled sample in stockcast's column layout, sorted by ticker and date."""
    frame = raw.rename(columns=lambda name: name.strip().lower().replace(" ", "_"))
    frame = frame[frame["ticker"].isin(KEEP)].sort_values(["ticker", "date"])
    per_ticker = [derive_actions(rows) for _, rows in frame.groupby("ticker")]
    return pd.concat(per_ticker)[COLUMNS].reset_index(drop=True)


def check_known_actions(sample: pd.DataFrame) -> list[str]:
    """Problems found when comparing the derived actions with well-known corporate history."""
    problems = []
    for ticker, expected in EXPECTED_SPLITS.items():
        rows = sample[(sample["ticker"] == ticker) & (sample["stock_splits"] != 0)]
        found = dict(zip(rows["date"], rows["stock_splits"], strict=True))
        if found != expected:
            problems.append(f"{ticker} splits {found}, expected {expected}")
    paying = sample[sample["dividends"] > 0]
    years = pd.to_datetime(paying["date"]).dt.year
    if years[paying["ticker"] == "MSFT"].min() != 2003:
        problems.append("MSFT's first dividend should fall in 2003")
    ibm_years = years[(paying["ticker"] == "IBM") & years.between(2001, 2012)]
    if not (ibm_years.value_counts().reindex(range(2001, 2013)) == 4).all():
        problems.append("IBM should pay quarterly (4 ex-dates in every full year 2001-2012)")
    if (paying["ticker"] == "GOOG").any():
        problems.append("GOOG paid no dividend before 2013")
    return problems


def summarise(sample: pd.DataFrame) -> str:
    """One line per ticker: rows, date range, splits and the number and total of dividends."""
    lines = []
    for ticker, rows in sample.groupby("ticker"):
        splits = rows[rows["stock_splits"] != 0]
        paid = rows.loc[rows["dividends"] > 0, "dividends"]
        pairs = zip(splits["date"], splits["stock_splits"], strict=True)
        split_text = ", ".join(f"{day} x{ratio:g}" for day, ratio in pairs)
        lines.append(
            f"{ticker}: {len(rows)} rows {rows['date'].min()}..{rows['date'].max()}; "
            f"splits [{split_text}]; {len(paid)} dividends totalling {np.round(paid.sum(), 2)}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="bokeh_sampledata-*.whl or stocks.csv.gz")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"default: {OUTPUT}")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        parser.error(f"{args.source} does not exist: pip download bokeh-sampledata --no-deps")
    sample = make_sample(read_source(args.source))
    problems = check_known_actions(sample)
    if problems:
        print("refusing to write the sample: " + "; ".join(problems), file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    # mtime 0 makes the gzip byte-identical across runs, so git sees no change.
    sample.to_csv(args.output, index=False, compression={"method": "gzip", "mtime": 0})
    print(summarise(sample))
    print(f"wrote {len(sample)} rows to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
