"""One run at a time: a PostgreSQL advisory lock, or an OS file lock beside a SQLite database.

Both die with their holder (the advisory lock with its connection, the file lock with the
process), so a killed run never blocks the next one.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

from stockcast import store
from stockcast.config import Settings, mask_url
from stockcast.errors import LockHeld

BUSY = "wait for it to finish (this run did nothing)"


def _holder_text(holder_file: Path) -> str:
    try:
        holder = json.loads(holder_file.read_text())
    except (OSError, json.JSONDecodeError):
        return "another run"
    return f"run {holder.get('run_id')} (pid {holder.get('pid')})"


@contextmanager
def _file_lock(settings: Settings, run_id: str):
    from filelock import FileLock, Timeout

    lock = FileLock(str(settings.lock_path))
    holder_file = settings.lock_path.with_suffix(".holder")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise LockHeld(f"{_holder_text(holder_file)} holds {settings.lock_path}: {BUSY}") from None
    try:
        holder_file.write_text(json.dumps({"run_id": run_id, "pid": os.getpid()}))
        yield
    finally:
        holder_file.unlink(missing_ok=True)
        lock.release()


@contextmanager
def _advisory_lock(settings: Settings, run_id: str):
    conn = store.try_advisory_lock(settings.db_url)
    if conn is None:
        running = store.running_run(settings.db_url)
        holder = f"run {running}" if running else "another run"
        raise LockHeld(f"{holder} holds the lock on {mask_url(settings.db_url)}: {BUSY}")
    try:
        yield
    finally:
        conn.close()  # ending the session releases the advisory lock


def hold_lock(settings: Settings, run_id: str):
    """Context manager holding the pipeline lock for `run_id`; LockHeld if another run has it."""
    if settings.db_url.startswith("postgresql"):
        return _advisory_lock(settings, run_id)
    return _file_lock(settings, run_id)
