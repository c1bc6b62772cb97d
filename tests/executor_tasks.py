"""Task functions the executor tests ship to worker processes: a light module (no pandas, no
scikit-learn) so that a worker restarted after a death imports it in a blink."""

from __future__ import annotations

import os
import time
from pathlib import Path


def double(value: int) -> int:
    if value < 0:
        raise ValueError(f"negative value {value}")
    return 2 * value


def die_once(marker: str, value: int) -> int:
    """Kill the worker process the first time (the marker file records it), then succeed."""
    if not Path(marker).exists():
        Path(marker).touch()
        os._exit(1)
    return 2 * value


def kill_for_bbb(ticker: str) -> str:
    """Kill every worker that runs BBB; echo any other ticker."""
    if ticker == "BBB":
        os._exit(1)
    return ticker


def process_id(value: int) -> int:
    """The process that ran the task."""
    return os.getpid()


def nap(seconds: float) -> float:
    """Sleep `seconds` (negative: fail) and return the monotonic clock at the end, which every
    process on a machine shares."""
    if seconds < 0:
        raise ValueError(f"negative nap {seconds}")
    time.sleep(seconds)
    return time.monotonic()
