"""Every exception stockcast raises on purpose, each with a one-line message saying what to do.

`exit_code` is what the runner exits with when the error ends a run: 2 for bad usage or input,
1 for a failure of the pipeline itself, 3 when another run holds the lock.
"""


class StockcastError(Exception):
    """Base class: the message is one line, names the input and the fix."""

    exit_code = 1


class BadInput(StockcastError):
    """The user asked for something that cannot be done: a bad ticker, date, file or option."""

    exit_code = 2


class InvalidTicker(BadInput):
    """A ticker that does not match the ticker pattern, or whose suffix has no calendar."""


class NotASession(BadInput):
    """An as-of date that is not a session of the ticker's exchange, or lies in the future."""


class InvalidPrices(StockcastError):
    """Price rows that fail validation; the ticker is skipped and the reason recorded."""


class SourceError(StockcastError):
    """A data provider failed for one ticker (network, empty answer, unknown symbol)."""


class RateLimited(SourceError):
    """The provider refused because of too many requests; retried with backoff before giving up."""


class DatabaseUnavailable(StockcastError):
    """The database cannot be reached or opened; the message masks any password in the URL."""

    exit_code = 2


class ModelUnavailable(StockcastError):
    """A model cannot be found or loaded from the MLflow registry for one ticker."""


class NotEnoughHistory(StockcastError):
    """Too few labelled sessions to train anything but the naive forecast."""


class LockHeld(StockcastError):
    """Another run holds the pipeline lock; this run does nothing."""

    exit_code = 3
