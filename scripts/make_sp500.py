"""Regenerate the bundled universe `stockcast/universes/sp500.txt` from the constituents list of
github.com/datasets/s-and-p-500-companies (`data/constituents.csv`, ODC-PDDL-1.0: public domain).

Usage:

    git clone https://github.com/datasets/s-and-p-500-companies /tmp/sp500
    python scripts/make_sp500.py /tmp/sp500/data/constituents.csv --commit "$(git -C /tmp/sp500 \
        log -1 --format='%h %cs' -- data/constituents.csv)"

Symbols are written as Yahoo Finance spells them: a class share's dot becomes a dash (BRK.B ->
BRK-B), since a dot would read as an exchange suffix. One symbol a line, sorted as the list is.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "stockcast" / "universes" / "sp500.txt"
SOURCE = "https://github.com/datasets/s-and-p-500-companies, data/constituents.csv"


def yahoo_symbol(symbol: str) -> str:
    return symbol.strip().replace(".", "-")


def make_universe(constituents: Path, commit: str) -> str:
    with constituents.open(newline="") as handle:
        symbols = [yahoo_symbol(row["Symbol"]) for row in csv.DictReader(handle)]
    header = [
        f"# S&P 500 constituents ({len(symbols)} symbols), Yahoo Finance symbols (BRK.B: BRK-B)",
        f"# from {SOURCE}",
        f"# at commit {commit}; data under ODC-PDDL-1.0 (public domain).",
        "# Membership changes several times a year: regenerate with scripts/make_sp500.py.",
    ]
    return "\n".join([*header, *symbols]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("constituents", type=Path, help="data/constituents.csv of the repository")
    parser.add_argument(
        "--commit", required=True, help="its commit and date, e.g. '56509dd 2026-08-08'"
    )
    args = parser.parse_args()
    OUTPUT.write_text(make_universe(args.constituents, args.commit))
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
