"""Every exception stockcast raises on purpose, each with a one-line message saying what to do.

`exit_code` is what the runner exits with when the error ends a run: 2 for bad usage or input,
1 for a failure of the pipeline itself, 3 when another run holds the lock.
"""

from __future__ import annotations

import errno

# Errors that mean "this disk cannot take the file", not "this code is wrong".
NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
NOT_WRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM}


def first_line(text, limit: int = 300) -> str:
    """The first non-empty line of `text` (an exception's message, a tool's output), at most
    `limit` characters: what a one-line error or a recorded failure keeps."""
    lines = str(text).strip().splitlines()
    return (lines[0].strip() if lines else "")[:limit]


def single_line(text) -> str:
    """`text` whole, its line breaks and runs of spaces collapsed: a parser's multi-line
    message kept in full on one line."""
    return " ".join(str(text).split())


def describe(error: BaseException, limit: int = 300) -> str:
    """`ErrorType: first line of its message`, the form a per-ticker failure is recorded in."""
    return first_line(f"{type(error).__name__}: {error}", limit)


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


class NotEnoughHistory(StockcastError):
    """Too few labelled sessions to train anything but the naive forecast."""


class LockHeld(StockcastError):
    """Another run holds the pipeline lock; this run does nothing."""

    exit_code = 3


class StorageError(StockcastError):
    """A file a run writes could not be written (a full disk, a read-only folder)."""

    @classmethod
    def writing(cls, path, error: OSError) -> StorageError:
        return cls(f"cannot write {path} ({error.strerror or error}): {storage_fix(error)}")


def storage_fix(error: OSError) -> str:
    """What to do about an OSError met while writing outputs."""
    if error.errno in NO_SPACE:
        return "free space on that disk, or set STOCKCAST_OUTPUTS to a folder on another one"
    return "make the folder writable, or set STOCKCAST_OUTPUTS to a writable folder"


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM): raised like Ctrl-C, so that every layer unwinds
    (papermill shuts its kernel down) and the run's records are closed as `interrupted`."""

    exit_code = 143  # 128 + SIGTERM, what a shell reports for a process ended by it

    def __str__(self) -> str:
        return "terminated by SIGTERM: the run, if one had started, is recorded as interrupted"
