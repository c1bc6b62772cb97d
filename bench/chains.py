"""Time a runner chain the way its operator sees it: `python -m runner <kind>` in a fresh outputs
folder, each stage from the runner's log lines as they arrive (`[train] ok in 14s`), the peak
resident memory of the runner and its kernels sampled over each stage."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from stockcast.config import REPO_ROOT

# The runner's log: `run <run_id>: ...` when the run starts, then one line as each stage ends.
RUN_LINE = re.compile(r"^run (?P<run_id>\S+): ")
STAGE_LINE = re.compile(r"^\[(?P<stage>[\w-]+)\] (?P<outcome>ok|done|FAILED|skipped)")


class TreeMemory:
    """Samples the resident memory of a process and its children until stopped."""

    def __init__(self, pid: int, interval: float = 0.2):
        import psutil

        self.root, self.interval = psutil.Process(pid), interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psutil

        while not self._stop.is_set():
            try:
                processes = [self.root, *self.root.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in processes if p.is_running())
            except psutil.Error:
                rss = 0
            self.samples.append((time.time(), rss / 2**20))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def peak_between(self, start: float, end: float) -> float | None:
        inside = [mb for stamp, mb in self.samples if start <= stamp <= end]
        return round(max(inside), 1) if inside else None


def read_log(lines: list[tuple[float, str]]) -> tuple[str | None, float | None, list[dict]]:
    """The run id, when the run started, and each stage with its outcome, start and end, from
    the runner's log lines stamped as they arrived. A stage starts when the one before it (or
    the run) ended: its time includes rendering its HTML report, as the runner logs it."""
    run_id = started = clock = None
    stages = []
    for stamp, line in lines:
        if run_id is None and (match := RUN_LINE.match(line)):
            run_id, started, clock = match["run_id"], stamp, stamp
        elif clock is not None and (match := STAGE_LINE.match(line)):
            stage, outcome = match["stage"], match["outcome"]
            stages.append({"stage": stage, "outcome": outcome, "start": clock, "end": stamp})
            clock = stamp
    return run_id, started, stages


def run_chain(args: list[str], outputs: Path) -> dict:
    """Run `python -m runner <args>` with `outputs` as its outputs folder: the wall time of the
    whole command (start-up and closing included), and per stage its wall seconds as logged,
    its notebook's execution seconds (run.json) and the peak memory."""
    env = {**os.environ, "STOCKCAST_OUTPUTS": str(outputs)}
    env.pop("STOCKCAST_DB_URL", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    started = time.time()
    process = subprocess.Popen(
        [sys.executable, "-m", "runner", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    lines = []
    with TreeMemory(process.pid) as memory:
        for line in process.stdout:
            lines.append((time.time(), line.rstrip("\n")))
        process.wait()
    finished = time.time()
    if process.returncode != 0:
        output = "\n".join(line for _, line in lines)
        raise RuntimeError(f"runner {' '.join(args)} exited {process.returncode}:\n{output}")
    run_id, run_started, stages = read_log(lines)
    if run_id is None:
        raise RuntimeError(f"runner {' '.join(args)} logged no `run <id>:` line")
    record = json.loads((outputs / "runs" / run_id / "run.json").read_text())
    notebook_seconds = {stage["name"]: stage["seconds"] for stage in record["stages"]}
    last_end = stages[-1]["end"] if stages else run_started
    return {
        "command": " ".join(["python -m runner", *args]),
        "wall_seconds": round(finished - started, 1),
        "startup_seconds": round(run_started - started, 1),
        "closing_seconds": round(finished - last_end, 1),
        "peak_rss_mb": memory.peak_between(started, finished),
        "stages": [
            {
                "stage": stage["stage"],
                "outcome": stage["outcome"],
                "seconds": round(stage["end"] - stage["start"], 1),
                "notebook_seconds": notebook_seconds.get(stage["stage"]),
                "peak_rss_mb": memory.peak_between(stage["start"], stage["end"]),
            }
            for stage in stages
        ],
    }


def backfill_quality(outputs: Path) -> list[dict]:
    """Per ticker of a finished backfill: RMSE of each model and of the served forecast
    relative to naive, and how often naive was served."""
    from stockcast import store

    evals = store.load_evaluations(store.connect(f"sqlite:///{outputs / 'stockcast.db'}"))
    evals = evals.assign(squared=(evals["pred_close"] - evals["true_close"]) ** 2)
    rows = []
    for ticker, one in evals.groupby("ticker"):
        rmse = one.groupby("model")["squared"].mean() ** 0.5
        served = one[one["is_champion"]]
        rows.append(
            {
                "ticker": ticker,
                "sessions": int(served["target_date"].nunique()),
                **{f"{m}_vs_naive": round(float(rmse[m] / rmse["naive"]), 4) for m in rmse.index},
                "served_vs_naive": round(float(served["squared"].mean() ** 0.5 / rmse["naive"]), 4),
                "naive_served_share": round(float((served["model"] == "naive").mean()), 4),
            }
        )
    return rows
