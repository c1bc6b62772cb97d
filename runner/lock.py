"""One run at a time: a PostgreSQL advisory lock, or an OS file lock beside a SQLite database.

Both die with their holder (the advisory lock with its connection, the file lock with the
process's descriptor), so a killed run never blocks the next one. A run that finds the lock
taken raises LockHeld naming the holder, having written nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from stockcast import store
from stockcast.config import Settings, mask_url
from stockcast.errors import LockHeld, StorageError

BUSY = "wait for it to finish (this run did nothing)"
# A winner writes its record right after taking the lock: a loser waits this long to read it.
HOLDER_WAIT_SECONDS = 2.0


def lock_file(settings: Settings) -> Path:
    """The lock file of a SQLite database: in the outputs folder for the default database,
    beside the database file when STOCKCAST_DB_URL names another one."""
    database = sa.engine.make_url(settings.db_url).database
    if not database or database == ":memory:":
        return settings.lock_path
    path = Path(database).expanduser().resolve()
    if path.parent == settings.outputs:
        return settings.lock_path
    return path.with_name(path.name + ".lock")


def _alive(holder: dict) -> bool:
    """False only when the holder's process is known to be gone (same host, no such pid)."""
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return True  # another container or machine: its pid means nothing here
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _read_holder(path: Path) -> dict | None:
    """The record in the lock file, once it names a live holder (or after a short wait)."""
    deadline = time.monotonic() + HOLDER_WAIT_SECONDS
    holder = None
    while True:
        try:
            holder = json.loads(path.read_text()) or holder
        except (OSError, ValueError):
            pass  # not written yet, or being rewritten
        if (holder and _alive(holder)) or time.monotonic() >= deadline:
            return holder
        time.sleep(0.05)


def _open_lock_file(path: Path) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # never truncated by a loser
    except OSError as error:
        raise StorageError.writing(path, error) from None


@contextmanager
def _file_lock(path: Path, run_id: str):
    descriptor = _open_lock_file(path)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(path)
            who = f"run {holder.get('run_id')} (pid {holder.get('pid')})" if holder else "a run"
            raise LockHeld(f"{who} holds {path}: {BUSY}") from None
        record = {"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname()}
        try:
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, json.dumps(record).encode(), 0)
        except OSError:
            pass  # a full disk: the lock is held all the same, only its holder goes unnamed
        try:
            yield
        finally:
            os.ftruncate(descriptor, 0)
    finally:
        os.close(descriptor)  # closing the descriptor releases the lock, as dying does


@contextmanager
def _advisory_lock(url: str, run_id: str):
    conn = store.try_advisory_lock(url, holder=f"stockcast {run_id}")
    if conn is None:
        holder = store.advisory_lock_holder(url) or store.running_run(url)
        who = f"run {holder.removeprefix('stockcast ')}" if holder else "a run"
        raise LockHeld(f"{who} holds the lock on {mask_url(url)}: {BUSY}")
    try:
        yield
    finally:
        conn.close()  # ending the session releases the advisory lock


def hold_lock(settings: Settings, run_id: str):
    """Context manager holding the pipeline lock for `run_id`; LockHeld if another run has it."""
    if settings.db_url.startswith("postgresql"):
        return _advisory_lock(settings.db_url, run_id)
    return _file_lock(lock_file(settings), run_id)
