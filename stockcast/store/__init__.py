"""The only package that speaks SQL: the six tables, their migrations, upserts and reads.

Every write is an upsert inside a transaction, one transaction per ticker, so running the same
thing twice leaves the same rows and a killed run leaves no partial ticker behind. Callers use
`from stockcast import store` and the names below; one module per concern:

- `schema`: the tables and their indexes (the metadata Alembic compares against)
- `engine`: connecting, migrating (`migrations/`), read-only engines, one-line errors
- `prices`: `stock_price`; `predictions`: `stock_pred`, `stock_pred_eval`, `model_params`
- `runs`: `pipeline_run`, `run_item`; `lock`: the PostgreSQL advisory run lock
- `rows`: the upsert and frame helpers the table modules share
"""

from stockcast.store.engine import (
    MIGRATIONS_DIR,
    connect,
    connect_read_only,
    head_revision,
    open_existing,
    schema_ready,
    sqlite_file_missing,
    upgrade,
)
from stockcast.store.lock import advisory_lock_holder, running_run, try_advisory_lock
from stockcast.store.predictions import (
    count_evaluations,
    count_predictions,
    latest_predictions,
    load_evaluations,
    load_params,
    load_predictions,
    save_evaluations,
    save_params,
    save_predictions,
)
from stockcast.store.prices import has_ticker, load_prices, price_summary, save_prices
from stockcast.store.runs import (
    finish_run,
    last_successful_run,
    mark_abandoned,
    pending_retunes,
    recent_runs,
    record_alerts,
    record_items,
    record_outcomes,
    run_items,
    start_run,
)
from stockcast.store.schema import (
    PRICE_COLUMNS,
    READ_TABLES,
    metadata,
    model_params,
    pipeline_run,
    run_item,
    stock_pred,
    stock_pred_eval,
    stock_price,
)

__all__ = [
    "MIGRATIONS_DIR",
    "PRICE_COLUMNS",
    "READ_TABLES",
    "advisory_lock_holder",
    "connect",
    "connect_read_only",
    "count_evaluations",
    "count_predictions",
    "finish_run",
    "has_ticker",
    "head_revision",
    "last_successful_run",
    "latest_predictions",
    "load_evaluations",
    "load_params",
    "load_predictions",
    "load_prices",
    "mark_abandoned",
    "metadata",
    "model_params",
    "open_existing",
    "pending_retunes",
    "pipeline_run",
    "price_summary",
    "recent_runs",
    "record_alerts",
    "record_items",
    "record_outcomes",
    "run_item",
    "run_items",
    "running_run",
    "save_evaluations",
    "save_params",
    "save_predictions",
    "save_prices",
    "schema_ready",
    "sqlite_file_missing",
    "start_run",
    "stock_pred",
    "stock_pred_eval",
    "stock_price",
    "try_advisory_lock",
    "upgrade",
]
