"""The per-ticker seam: run a pure function for each ticker, collect results and one-line
failures. A ticker's failure never stops the others.

Every per-ticker step (tune, train, the backfill replay, MLflow logging) goes through
`map_tickers`; the functions it runs take and return plain frames and values (picklable: no
engine, connection or MLflow client inside), so the executor decides where they run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from stockcast.errors import BadInput, describe

EXECUTORS = ("serial",)


def attempt(function: Callable, args: tuple) -> tuple[bool, object]:
    """(True, result) or (False, one-line reason): what a worker sends back for one ticker."""
    try:
        return True, function(*args)
    except Exception as error:  # one ticker's failure must not stop the rest
        return False, describe(error)


def map_tickers(
    function: Callable, tasks: Mapping[str, tuple], executor: str = "serial"
) -> tuple[dict[str, object], dict[str, str]]:
    """function(*tasks[ticker]) for every ticker; returns (ticker -> result, ticker -> reason),
    both in the order of `tasks`."""
    if executor not in EXECUTORS:
        raise BadInput(f"executor {executor!r} is unknown: use one of {', '.join(EXECUTORS)}")
    outcomes = {ticker: attempt(function, args) for ticker, args in tasks.items()}
    results = {ticker: value for ticker, (ok, value) in outcomes.items() if ok}
    failures = {ticker: value for ticker, (ok, value) in outcomes.items() if not ok}
    return results, failures
