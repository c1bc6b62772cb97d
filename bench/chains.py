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
        "run_id": run_id,
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


# A map's progress bar as the executors draw it (`progress fit_ticker on 2 local processes: 100%
# |...| 500 of 500 tickers done, 0 failed, 04:10 elapsed, 00:00 left`).
PROGRESS_LINE = re.compile(
    r"progress (?P<label>.+?): +\d+% .* (?P<done>\d+) of (?P<total>\d+) tickers done.*?"
    r"(?P<elapsed>[\d:]+) elapsed"
)
# What a cell's source names: the part of the system its time goes to.
CELL_KINDS = (("mlflow", "tracking."), ("database", "store."))


def clock_seconds(text: str) -> int:
    """'04:10' or '1:02:03' (tqdm's elapsed) in seconds."""
    seconds = 0
    for part in text.split(":"):
        seconds = seconds * 60 + int(part)
    return seconds


def cell_kinds(source: str) -> list[str]:
    """Which of MLflow and the database a cell's code calls (by `tracking.` and `store.`)."""
    return [kind for kind, marker in CELL_KINDS if marker in source]


def map_timings(outputs: list[dict]) -> list[dict]:
    """Each per-ticker map's last progress drawing in a cell's outputs: its label, tickers and
    elapsed seconds."""
    text = "".join(
        "".join(out.get("text", "")) for out in outputs if out.get("output_type") == "stream"
    )
    last = {}
    for line in re.split(r"[\r\n]+", text):
        if match := PROGRESS_LINE.search(line):
            last[match["label"]] = {
                "map": match["label"],
                "done": int(match["done"]),
                "total": int(match["total"]),
                "seconds": clock_seconds(match["elapsed"]),
            }
    return list(last.values())


def notebook_cells(path: Path) -> list[dict]:
    """An executed notebook's code cells: first line, seconds (papermill's), whether it calls
    MLflow or the database, and the per-ticker maps it ran with their elapsed seconds."""
    cells = []
    for cell in json.loads(path.read_text())["cells"]:
        timing = cell.get("metadata", {}).get("papermill", {})
        if cell["cell_type"] != "code" or timing.get("duration") is None:
            continue
        source = "".join(cell["source"])
        cells.append(
            {
                "cell": source.strip().splitlines()[0][:80] if source.strip() else "",
                "seconds": round(timing["duration"], 2),
                "calls": cell_kinds(source),
                "maps": map_timings(cell.get("outputs", [])),
            }
        )
    return cells


def run_breakdown(run_folder: Path) -> dict[str, list[dict]]:
    """Executed notebook name -> its cells (notebook_cells), for every notebook of a run."""
    return {path.name: notebook_cells(path) for path in sorted(run_folder.glob("*.ipynb"))}


def where_time_goes(cells: list[dict]) -> dict:
    """One notebook's cell seconds split: its imports (the first cell), the cells that call
    MLflow, those that call the database (and not MLflow), the rest; and the per-ticker maps'
    own seconds (inside those cells). A cell is counted whole where its code calls the system,
    so the MLflow and database figures are upper bounds."""
    split = {"imports_s": 0.0, "mlflow_cells_s": 0.0, "database_cells_s": 0.0, "other_cells_s": 0.0}
    for number, cell in enumerate(cells):
        if number == 0:
            key = "imports_s"
        elif "mlflow" in cell["calls"]:
            key = "mlflow_cells_s"
        elif "database" in cell["calls"]:
            key = "database_cells_s"
        else:
            key = "other_cells_s"
        split[key] += cell["seconds"]
    maps = {m["map"]: m["seconds"] for cell in cells for m in cell["maps"]}
    return {**{key: round(value, 1) for key, value in split.items()}, "maps_s": maps}
