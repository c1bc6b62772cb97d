"""A run's identity and records: its id, its folder, `params.json`, `run.json`, pruning."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from stockcast.config import REPO_ROOT, Settings
from stockcast.errors import NO_SPACE, BadInput, StorageError, storage_fix


def new_run_id(kind: str, now: datetime | None = None) -> str:
    """`<kind>-<UTC timestamp>-<short id>`, sortable by time."""
    now = now or datetime.now(UTC)
    return f"{kind}-{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def _write_json(path: Path, payload: dict) -> None:
    """Replace `path` whole or not at all: a full disk leaves the previous version."""
    temporary = path.with_suffix(".tmp")
    try:
        temporary.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
        temporary.replace(path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise StorageError.writing(path, error) from None


def check_writable(settings: Settings) -> None:
    """BadInput unless a run can write its folder: checked before a run takes the lock, so a
    read-only or full outputs folder stops it before anything is written."""
    folder = settings.runs_dir if settings.runs_dir.is_dir() else settings.outputs
    try:
        with tempfile.TemporaryFile(dir=folder) as probe:
            probe.write(b"\0" * 4096)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        state = "is full" if error.errno in NO_SPACE else "is not writable"
        raise BadInput(
            f"outputs folder {folder} {state} ({error.strerror or error}): {storage_fix(error)}"
        ) from None


@dataclass
class StageRecord:
    name: str
    notebook: str
    status: str = "pending"
    seconds: float | None = None
    html: str | None = None
    error: str | None = None


@dataclass
class RunRecord:
    """What `run.json` holds; rewritten after every stage so a killed run leaves its trace."""

    run_id: str
    kind: str
    as_of: str | None
    folder: Path
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    finished_at: str | None = None
    status: str = "running"
    stages: list[StageRecord] = field(default_factory=list)
    tickers: dict[str, dict[str, str]] = field(default_factory=dict)
    failed_tickers: list[str] = field(default_factory=list)

    def save(self) -> None:
        payload = asdict(self)
        payload["folder"] = str(self.folder)
        _write_json(self.folder / "run.json", payload)


def close_abandoned(folder: Path) -> None:
    """Mark the `run.json` of a run whose process died as `abandoned`, if it is still running."""
    path = folder / "run.json"
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if payload.get("status") == "running":
        payload["status"] = "abandoned"
        _write_json(path, payload)


def write_params(folder: Path, resolved: dict) -> Path:
    """`params.json`: the resolved parameters of every stage and the code's git commit."""
    path = folder / "params.json"
    _write_json(path, {"git_commit": git_commit(), **resolved})
    return path


def is_running(folder: Path, running: set[str] | frozenset = frozenset()) -> bool:
    """Whether the run of `folder` may still be running: its row (`running` holds the ids of
    the rows that say so) or its `run.json` says it is."""
    if folder.name in running:
        return True
    try:
        return json.loads((folder / "run.json").read_text()).get("status") == "running"
    except (OSError, ValueError, AttributeError):
        return False


def prune(runs_dir: Path, keep: int, running: set[str] | frozenset = frozenset()) -> list[Path]:
    """Delete all but the newest `keep` finished run folders, never one of a run that may be
    running (see `is_running`); return the deleted ones. Call it under the run lock."""
    if not runs_dir.is_dir():
        return []
    folders = [p for p in runs_dir.iterdir() if p.is_dir() and (p / "run.json").is_file()]
    folders = [p for p in folders if not is_running(p, running)]
    # The run id's second part is its UTC start time, so it sorts runs of every kind together.
    folders.sort(key=lambda p: p.name.split("-")[1], reverse=True)
    for folder in folders[keep:]:
        try:
            shutil.rmtree(folder)
        except OSError as error:
            fix = storage_fix(error)
            raise StorageError(f"cannot delete {folder} ({error.strerror}): {fix}") from None
    return folders[keep:]
