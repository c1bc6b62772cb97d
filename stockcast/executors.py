"""The per-ticker seam: run a pure function for each ticker, here, in local processes or on a
Dask cluster; collect results and one-line failures. A ticker's failure never stops the others.

Every per-ticker step (tune, train, the backfill replay) goes through `map_tickers`; the
functions it runs take and return plain frames and values (picklable: no engine, connection or
MLflow client inside), so the executor decides where they run. Results come back in the order
of `tasks` and are the same whatever the executor; the database and MLflow are written by the
stage's own process, never by a worker: MLflow logging as each result arrives (`then`).

- `auto` (the default): `processes` for a map of AUTO_MIN_TICKERS tickers or more, else
  `serial`, decided per map.
- `serial`: in this process.
- `processes`: joblib's loky workers on this machine, one per core by default. A worker that
  dies (a crash, the OOM killer) takes the tickers it was running with it; they are retried
  one at a time, so the ticker that kills its worker again fails alone.
- `dask`: a `dask.distributed` cluster: an existing scheduler (`tcp://host:8786`) or a
  `LocalCluster` (cluster.py). A task whose worker dies is run again elsewhere, then that
  ticker fails alone (KilledWorker).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field, replace

from tqdm import tqdm

from stockcast import cluster
from stockcast.errors import BadInput, describe

EXECUTORS = ("auto", "serial", "processes", "dask")
# `auto` runs a map of at least AUTO_MIN_TICKERS tickers on local processes (when this machine
# has more than one core), smaller ones serially: starting two loky workers that import the
# stack took ~8 s here, more than 20 tickers' train saves on two cores (~0.4 s a ticker).
AUTO_MIN_TICKERS = 20
SCHEDULER_ADDRESS = re.compile(r"(tcp|tls|ws|wss|ucx)://[^\s/]+:\d+")
# A map of at least PROGRESS_MIN_TICKERS draws a progress bar on stderr every PROGRESS_SECONDS
# and at its end: in the executed notebook, and forwarded by the runner to its log.
PROGRESS_MIN_TICKERS = 20
PROGRESS_SECONDS = 30.0
PROGRESS_PREFIX = "progress "
BAR_FORMAT = (
    "{desc}: {percentage:3.0f}% |{bar:20}| {n_fmt} of {total_fmt} tickers done{postfix}, "
    "{elapsed} elapsed, {remaining} left"
)


@dataclass(frozen=True)
class Executor:
    """Where per-ticker work runs: `kind` (one of EXECUTORS), `workers` (None: one per core;
    with an existing scheduler, the cluster's own), `scheduler` (None: a LocalCluster)."""

    kind: str = "serial"
    workers: int | None = None
    scheduler: str | None = None

    def __post_init__(self):
        if self.kind not in EXECUTORS:
            raise BadInput(f"executor {self.kind!r} is unknown: use one of {', '.join(EXECUTORS)}")
        if self.workers is not None and (
            isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1
        ):
            raise BadInput(f"workers {self.workers!r} is not a count: use a whole number >= 1")
        if self.scheduler is not None and not SCHEDULER_ADDRESS.fullmatch(self.scheduler):
            raise BadInput(
                f"Dask scheduler {self.scheduler!r} is not an address: use tcp://HOST:PORT "
                "(e.g. tcp://10.0.0.5:8786)"
            )
        if self.scheduler is not None and self.kind != "dask":
            raise BadInput(
                f"a Dask scheduler ({self.scheduler}) is for the dask executor, and this one is "
                f"{self.kind}: add --executor dask, or drop --scheduler"
            )

    @property
    def size(self) -> int:
        """Workers on this machine: as asked, else one per core this process may use."""
        if self.workers:
            return self.workers
        if hasattr(os, "sched_getaffinity"):  # Linux: the cores this process may run on
            return len(os.sched_getaffinity(0))
        return os.cpu_count() or 1

    def for_tickers(self, n_tickers: int) -> Executor:
        """What runs a map of `n_tickers`: `auto` resolved, processes for fewer than two made
        serial (nothing to share); any other kind as it is."""
        if self.kind == "auto":
            parallel = n_tickers >= AUTO_MIN_TICKERS and self.size > 1
            return replace(self, kind="processes" if parallel else "serial")
        if self.kind == "processes" and n_tickers < 2:
            return replace(self, kind="serial")
        return self

    def describe(self) -> str:
        if self.kind == "auto":
            return f"auto (processes from {AUTO_MIN_TICKERS} tickers, else serial)"
        if self.kind == "dask":
            return f"dask on {self.scheduler or f'a local cluster of {self.size} workers'}"
        return "serial" if self.kind == "serial" else f"{self.size} local processes"


def as_executor(executor: str | Executor = "serial", workers=None, scheduler=None) -> Executor:
    """An Executor from a notebook's or the runner's plain parameters (or one already made)."""
    if isinstance(executor, Executor):
        return executor
    return Executor(str(executor), workers, scheduler)


def from_settings(executor: str, workers, scheduler, settings) -> Executor:
    """The Executor a run or a notebook asks for, its scheduler defaulting to the settings'
    (STOCKCAST_DASK_SCHEDULER) for dask; BadInput if dask would share SQLite files."""
    if executor == "dask":
        scheduler = scheduler or settings.dask_scheduler
    chosen = Executor(executor, workers, scheduler)
    cluster.check_cluster_settings(chosen, settings)
    return chosen


def attempt(function: Callable, args: tuple) -> tuple[bool, object]:
    """(True, result) or (False, one-line reason): what a worker sends back for one ticker."""
    try:
        return True, function(*args)
    except Exception as error:  # one ticker's failure must not stop the rest
        return False, describe(error)


@dataclass(frozen=True)
class TickerCall:
    """One ticker's work as a plain picklable callable: what is shipped to a worker."""

    function: Callable
    args: tuple

    def __call__(self) -> tuple[bool, object]:
        return attempt(self.function, self.args)


@dataclass
class Tally:
    """The outcomes of a map as they arrive. A map of PROGRESS_MIN_TICKERS or more shows a tqdm
    bar on stderr (tickers done of total, failures, elapsed and remaining time), redrawn every
    PROGRESS_SECONDS: the executed notebook keeps its last state, and the runner copies each
    redraw, which starts with PROGRESS_PREFIX, into its log."""

    label: str
    total: int
    then: Callable[[str, object], None] | None = None
    outcomes: dict[str, tuple] = field(default_factory=dict)
    failed: int = 0

    def __post_init__(self):
        self.bar = None
        if self.total >= PROGRESS_MIN_TICKERS:
            self.bar = tqdm(
                total=self.total,
                desc=f"{PROGRESS_PREFIX}{self.label}",
                unit="ticker",
                file=sys.stderr,
                mininterval=PROGRESS_SECONDS,
                ascii=True,
                bar_format=BAR_FORMAT,
                postfix="0 failed",
            )

    def record(self, ticker: str, outcome: tuple[bool, object]) -> None:
        self.outcomes[ticker] = outcome
        self.failed += not outcome[0]
        if outcome[0] and self.then is not None:
            self.then(ticker, outcome[1])
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.failed} failed", refresh=False)
            self.bar.update()
            if len(self.outcomes) == self.total:
                self.bar.close()

    def record_all(self, outcomes: list[tuple[str, tuple]]) -> None:
        """record each (ticker, outcome) of `outcomes`, emptying it."""
        while outcomes:
            self.record(*outcomes.pop(0))


def map_tickers(
    function: Callable,
    tasks: Mapping[str, tuple],
    executor: str | Executor = "serial",
    workers: int | None = None,
    scheduler: str | None = None,
    then: Callable[[str, object], None] | None = None,
) -> tuple[dict[str, object], dict[str, str]]:
    """function(*tasks[ticker]) for every ticker; returns (ticker -> result, ticker -> reason),
    both in the order of `tasks`. `then(ticker, result)`, when given, runs in this process on
    each success as it arrives, while the other tickers' work goes on in the workers (MLflow
    logging overlapping the fits); it handles its own failures."""
    calls = {ticker: TickerCall(function, tuple(args)) for ticker, args in tasks.items()}
    chosen = as_executor(executor, workers, scheduler).for_tickers(len(calls))
    label = f"{getattr(function, '__name__', 'task')} on {chosen.describe()}"
    tally = Tally(label, len(calls), then)
    if chosen.kind == "serial":
        for ticker, call in calls.items():
            tally.record(ticker, call())
    else:
        RUNNERS[chosen.kind](calls, chosen, tally)
    outcomes = {ticker: tally.outcomes[ticker] for ticker in calls}  # the order of `tasks`
    results = {ticker: value for ticker, (ok, value) in outcomes.items() if ok}
    failures = {ticker: value for ticker, (ok, value) in outcomes.items() if not ok}
    return results, failures


# --- processes (joblib's loky) ------------------------------------------------------------------


def run_processes(calls: dict[str, TickerCall], executor: Executor, tally: Tally) -> None:
    """At most `size` calls in flight on loky's reusable pool, so a broken pool names the few
    tickers that may have broken it: those are retried alone, the others go on in parallel."""
    waiting = list(calls)
    while waiting:
        suspects = _run_in_pool(calls, waiting, executor.size, tally)
        for ticker in suspects:  # alone in a fresh pool: a second death is this ticker's own
            _run_in_pool(calls, [ticker], 1, tally, last_try=True)
        waiting = [ticker for ticker in waiting if ticker not in tally.outcomes]


def _run_in_pool(calls, tickers, size, tally: Tally, last_try=False) -> list[str]:
    """Run `tickers` with at most `size` in flight, recording outcomes in `tally`; return the
    tickers that were in flight when a worker died (the pool is then broken, the rest wait)."""
    from joblib.externals.loky import get_reusable_executor
    from joblib.externals.loky.process_executor import BrokenProcessPool

    pool = get_reusable_executor(max_workers=size)
    queue, running, finished = iter(tickers), {}, []
    while True:
        for ticker in queue:
            running[pool.submit(calls[ticker])] = ticker
            if len(running) >= size:
                break
        # Recorded once every worker has its next ticker: the tally's `then` (MLflow logging)
        # runs here while they work, not while one of them waits for it.
        tally.record_all(finished)
        if not running:
            return []
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            try:
                outcome = future.result()
            except BrokenProcessPool as error:
                if not last_try:
                    tally.record_all(finished)
                    return list(running.values())
                outcome = (False, f"its worker process died ({describe(error)})")
            except Exception as error:  # noqa: BLE001 - e.g. a result that cannot be pickled
                outcome = (False, describe(error))
            finished.append((running.pop(future), outcome))


RUNNERS = {"processes": run_processes, "dask": cluster.run_dask}
