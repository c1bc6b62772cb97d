"""The dask executor: per-ticker calls on a `dask.distributed` cluster, an existing one
(`tcp://host:8786`) or a `LocalCluster` of this machine, and the checks a run makes before
using one (a scheduler that answers; no SQLite file shared by workers).

A task whose worker dies is run again on another worker, then that ticker fails alone with one
line (KilledWorker); errors of the task itself are caught by `executors.attempt` and never
retried.
"""

from __future__ import annotations

import uuid
from functools import cache

from stockcast.errors import BadInput, describe, first_line

# A worker death or a transient error outside the task (unpickling on a worker) is retried this
# many times.
TASK_RETRIES = 2
SCHEDULER_TIMEOUT = "10s"  # to connect to an existing scheduler


def run_dask(calls: dict, executor, tally) -> None:
    """Submit every call to the cluster (a worker's death is retried by the scheduler), then
    collect each ticker's outcome as it completes; a task that erred on the cluster fails its
    ticker alone."""
    from distributed import as_completed

    client = dask_client(executor.scheduler, None if executor.scheduler else executor.size)
    batch = uuid.uuid4().hex[:8]
    futures = {
        ticker: client.submit(
            call,
            key=f"{getattr(call.function, '__name__', 'task')}-{ticker}-{batch}",
            retries=TASK_RETRIES,
            pure=False,
        )
        for ticker, call in calls.items()
    }
    tickers = {future.key: ticker for ticker, future in futures.items()}
    for future in as_completed(futures.values()):
        try:
            outcome = future.result()
        except Exception as error:  # noqa: BLE001 - KilledWorker, a lost scheduler: this ticker's
            outcome = (False, f"failed on the Dask cluster ({describe(error)})")
        tally.record(tickers[future.key], outcome)
        future.release()


@cache
def dask_client(scheduler: str | None, workers: int | None):
    """A client of the scheduler at `scheduler`, or of a LocalCluster of `workers` processes
    (one thread each), made once per process; an unreachable scheduler is BadInput."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler is None:
        # The scheduler runs here, so its tolerance of worker deaths is ours to set.
        with dask.config.set({"distributed.scheduler.allowed-failures": TASK_RETRIES}):
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
        return Client(cluster)
    try:
        return Client(scheduler, timeout=SCHEDULER_TIMEOUT)
    except (OSError, TimeoutError) as error:
        raise BadInput(
            f"Dask scheduler {scheduler} cannot be reached ({first_line(error, 120)}): start it, "
            "or fix --scheduler / STOCKCAST_DASK_SCHEDULER"
        ) from None


def check_scheduler(scheduler: str) -> None:
    """Connect to the scheduler and leave (BadInput if it does not answer): a run checks it
    before writing anything; its stages connect again."""
    dask_client(scheduler, None).close()
    dask_client.cache_clear()


def check_cluster_settings(executor, settings) -> None:
    """Workers on other processes or machines must not share SQLite files: the dask executor
    needs a PostgreSQL store and an MLflow tracking server (`settings`: config.Settings)."""
    if executor.kind != "dask":
        return
    local = [
        name
        for name, url in (
            ("STOCKCAST_DB_URL", settings.db_url),
            ("MLFLOW_TRACKING_URI", settings.tracking_uri),
        )
        if url.startswith(("sqlite:", "file:")) or "://" not in url
    ]
    if local:
        what = " and ".join(local)
        raise BadInput(
            f"the dask executor needs a PostgreSQL store and an MLflow tracking server, and "
            f"{what} {'point' if len(local) > 1 else 'points'} to a local SQLite file: set "
            "STOCKCAST_DB_URL=postgresql+psycopg://... and MLFLOW_TRACKING_URI=http://HOST:5000, "
            "or use --executor processes"
        )
