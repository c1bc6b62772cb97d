"""The only module that speaks SQL: the six tables, their migrations, upserts and reads.

Every write is an upsert inside a transaction, one transaction per ticker, so running the same
thing twice leaves the same rows and a killed run leaves no partial ticker behind.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from stockcast.config import mask_secrets, mask_url
from stockcast.errors import DatabaseUnavailable, first_line

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
metadata = sa.MetaData()

stock_price = sa.Table(
    "stock_price",
    metadata,
    sa.Column("ticker", sa.String(32), primary_key=True),
    sa.Column("date", sa.Date, primary_key=True),
    sa.Column("open", sa.Float, nullable=False),
    sa.Column("high", sa.Float, nullable=False),
    sa.Column("low", sa.Float, nullable=False),
    sa.Column("close", sa.Float, nullable=False),
    sa.Column("adj_close", sa.Float, nullable=False),
    sa.Column("volume", sa.Float),
    sa.Column("dividends", sa.Float, nullable=False, server_default="0"),
    sa.Column("stock_splits", sa.Float, nullable=False, server_default="0"),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

stock_pred = sa.Table(
    "stock_pred",
    metadata,
    sa.Column("ticker", sa.String(32), primary_key=True),
    sa.Column("target_date", sa.Date, primary_key=True),
    sa.Column("model", sa.String(32), primary_key=True),
    sa.Column("as_of_date", sa.Date, nullable=False),
    sa.Column("pred_close", sa.Float, nullable=False),
    sa.Column("pred_lower", sa.Float),
    sa.Column("pred_upper", sa.Float),
    sa.Column("is_champion", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("model_version", sa.String(64)),
    sa.Column("run_id", sa.String(96), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

stock_pred_eval = sa.Table(
    "stock_pred_eval",
    metadata,
    sa.Column("ticker", sa.String(32), primary_key=True),
    sa.Column("target_date", sa.Date, primary_key=True),
    sa.Column("model", sa.String(32), primary_key=True),
    sa.Column("pred_close", sa.Float, nullable=False),
    sa.Column("true_close", sa.Float, nullable=False),
    sa.Column("abs_error", sa.Float, nullable=False),
    sa.Column("pct_error", sa.Float, nullable=False),
    sa.Column("inside_interval", sa.Boolean),
    sa.Column("run_id", sa.String(96), nullable=False),
)

model_params = sa.Table(
    "model_params",
    metadata,
    sa.Column("ticker", sa.String(32), primary_key=True),
    sa.Column("model", sa.String(32), primary_key=True),
    sa.Column("tuned_as_of", sa.Date, primary_key=True),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("cv_rmse", sa.Float),
    sa.Column("run_id", sa.String(96), nullable=False),
)

pipeline_run = sa.Table(
    "pipeline_run",
    metadata,
    sa.Column("run_id", sa.String(96), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("as_of_date", sa.Date),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("report_dir", sa.String(512)),
)

run_item = sa.Table(
    "run_item",
    metadata,
    sa.Column("run_id", sa.String(96), primary_key=True),
    sa.Column("stage", sa.String(32), primary_key=True),
    sa.Column("ticker", sa.String(32), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", sa.Text),
)

PRICE_COLUMNS = [c.name for c in stock_price.columns if c.name not in ("source", "updated_at")]


# --- connecting and migrating ---------------------------------------------------------------


def connect(url: str, migrate: bool = True) -> Engine:
    """An engine on `url`, migrated to the newest schema; DatabaseUnavailable if unreachable."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = sa.create_engine(url, pool_pre_ping=True)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            if migrate:
                upgrade(conn)
                conn.commit()
    except ImportError as exc:
        raise DatabaseUnavailable(f"database {mask_url(url)}: driver missing ({exc})") from None
    except (sa.exc.SQLAlchemyError, ValueError) as exc:
        raise _unreachable(url, exc) from None
    return engine


def _head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def open_existing(url: str) -> Engine | None:
    """A read-only engine on a database a run has initialised, or None when there is none yet
    (no file, no tables): what readers such as `status` use, never creating or migrating.
    DatabaseUnavailable, naming the file and the fix, for an empty, foreign or corrupt file."""
    from alembic.runtime.migration import MigrationContext

    path = _sqlite_path(url)
    if path is not None and not path.exists():
        return None
    if path is not None and path.is_file() and path.stat().st_size == 0:
        raise DatabaseUnavailable(
            f"database file {path} is empty (0 bytes): delete it, or run the pipeline "
            "(`python -m runner demo`) to create its tables"
        )
    engine = connect_read_only(url)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            revision = MigrationContext.configure(conn).get_current_revision()
    except sa.exc.SQLAlchemyError as exc:
        raise _unreachable(url, exc) from None
    if pipeline_run.name not in tables:
        if path is not None and tables:
            raise DatabaseUnavailable(
                f"database file {path} holds no stockcast tables ({', '.join(sorted(tables))}): "
                "point STOCKCAST_DB_URL at stockcast's database, or move this file aside"
            )
        return None
    if revision != _head_revision():
        raise DatabaseUnavailable(
            f"database {_describe(url)} is at schema revision {revision}, this stockcast reads "
            f"{_head_revision()}: a run migrates it (`python -m runner daily`)"
        )
    return engine


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory ones)."""
    database = sa.engine.make_url(url).database if url.startswith("sqlite") else None
    return Path(database).expanduser() if database and database != ":memory:" else None


def _describe(url: str) -> str:
    path = _sqlite_path(url)
    return f"file {path}" if path is not None else mask_url(url)


def upgrade(conn: Connection) -> None:
    """Apply the Alembic migrations up to head on this connection (a no-op when current)."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    if MigrationContext.configure(conn).get_current_revision() == _head_revision():
        return
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


# --- writing --------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _clean(value):
    """A value SQL drivers accept: Python scalars, dates for timestamps, None for NaN."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if hasattr(value, "item") and not isinstance(value, (dict, list)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _records(frame: pd.DataFrame, columns: Iterable[str]) -> list[dict]:
    columns = list(columns)
    return [
        {col: _clean(val) for col, val in zip(columns, row, strict=True)}
        for row in frame[columns].itertuples(index=False, name=None)
    ]


def _upsert(conn: Connection, table: sa.Table, rows: list[dict]) -> None:
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the two supported back ends are above
        raise DatabaseUnavailable(f"unsupported database dialect {conn.dialect.name!r}")
    statement = insert(table)
    updates = {c: statement.excluded[c] for c in rows[0] if c not in keys}
    statement = statement.on_conflict_do_update(index_elements=keys, set_=updates)
    conn.execute(statement, rows)


def save_prices(
    engine: Engine, prices: pd.DataFrame, source: str, refresh: Iterable[str] = ()
) -> pd.DataFrame:
    """Upsert each ticker's rows in its own transaction; tickers in `refresh` are replaced whole.

    Returns one row per ticker: rows stored before and after, rows added.
    """
    refresh, summary = set(refresh), []
    for ticker, rows in prices.groupby("ticker", sort=True):
        records = _records(rows, PRICE_COLUMNS)
        stamp = _now()
        for record in records:
            record.update(source=source, updated_at=stamp)
        with engine.begin() as conn:
            before = _count(conn, stock_price, ticker)
            if ticker in refresh:
                conn.execute(sa.delete(stock_price).where(stock_price.c.ticker == ticker))
            _upsert(conn, stock_price, records)
            after = _count(conn, stock_price, ticker)
        summary.append(
            {
                "ticker": ticker,
                "rows_before": before,
                "rows": after,
                "rows_added": after - before,
                "refreshed": ticker in refresh,
            }
        )
    return pd.DataFrame(
        summary, columns=["ticker", "rows_before", "rows", "rows_added", "refreshed"]
    )


def _count(conn: Connection, table: sa.Table, ticker: str) -> int:
    query = sa.select(sa.func.count()).select_from(table).where(table.c.ticker == ticker)
    return conn.execute(query).scalar_one()


def save_predictions(engine: Engine, preds: pd.DataFrame, run_id: str) -> int:
    """Upsert prediction rows; per (ticker, target_date) only the flagged model stays champion."""
    columns = [
        "ticker",
        "target_date",
        "model",
        "as_of_date",
        "pred_close",
        "pred_lower",
        "pred_upper",
        "is_champion",
        "model_version",
    ]
    frame = preds.copy()
    if "model_version" not in frame:
        frame["model_version"] = None
    for ticker, rows in frame.groupby("ticker", sort=True):
        records = _records(rows, columns)
        stamp = _now()
        for record in records:
            record.update(run_id=run_id, created_at=stamp, is_champion=bool(record["is_champion"]))
        champions = {(r["target_date"], r["model"]) for r in records if r["is_champion"]}
        with engine.begin() as conn:
            _upsert(conn, stock_pred, records)
            for target_date, model in champions:
                conn.execute(
                    sa.update(stock_pred)
                    .where(stock_pred.c.ticker == ticker, stock_pred.c.target_date == target_date)
                    .values(is_champion=stock_pred.c.model == model)
                )
    return len(frame)


def save_evaluations(engine: Engine, evals: pd.DataFrame, run_id: str) -> int:
    """Upsert `stock_pred_eval` rows, one transaction per ticker."""
    columns = [
        "ticker",
        "target_date",
        "model",
        "pred_close",
        "true_close",
        "abs_error",
        "pct_error",
        "inside_interval",
    ]
    for _ticker, rows in evals.groupby("ticker", sort=True):
        records = [dict(r, run_id=run_id) for r in _records(rows, columns)]
        with engine.begin() as conn:
            _upsert(conn, stock_pred_eval, records)
    return len(evals)


def save_params(engine: Engine, tuned: pd.DataFrame, run_id: str) -> int:
    """Upsert tuned hyperparameters (`ticker, model, tuned_as_of, params, cv_rmse`)."""
    columns = ["ticker", "model", "tuned_as_of", "params", "cv_rmse"]
    for _ticker, rows in tuned.groupby("ticker", sort=True):
        records = [dict(r, run_id=run_id) for r in _records(rows, columns)]
        with engine.begin() as conn:
            _upsert(conn, model_params, records)
    return len(tuned)


# --- run records ----------------------------------------------------------------------------


def _as_date(value) -> date | None:
    return None if value is None else pd.Timestamp(value).date()


def start_run(engine: Engine, run_id: str, kind: str, as_of, report_dir: str) -> None:
    record = {
        "run_id": run_id,
        "kind": kind,
        "as_of_date": _as_date(as_of),
        "started_at": _now(),
        "finished_at": None,
        "status": "running",
        "report_dir": report_dir,
    }
    with engine.begin() as conn:
        _upsert(conn, pipeline_run, [record])


def finish_run(engine: Engine, run_id: str, status: str, as_of: date | None = None) -> None:
    values = {"status": status, "finished_at": _now()}
    if as_of is not None:
        values["as_of_date"] = _as_date(as_of)
    with engine.begin() as conn:
        conn.execute(sa.update(pipeline_run).where(pipeline_run.c.run_id == run_id).values(values))


def mark_abandoned(engine: Engine, except_run: str | None = None) -> list[str]:
    """Mark `running` runs as `abandoned`: called under the lock, so their holder has died."""
    where = [pipeline_run.c.status == "running"]
    if except_run:
        where.append(pipeline_run.c.run_id != except_run)
    with engine.begin() as conn:
        ids = conn.execute(sa.select(pipeline_run.c.run_id).where(*where)).scalars().all()
        if ids:
            conn.execute(
                sa.update(pipeline_run).where(*where).values(status="abandoned", finished_at=_now())
            )
    return list(ids)


def record_items(
    engine: Engine, run_id: str, stage: str, statuses: Mapping[str, tuple[str, str | None]]
) -> None:
    """Record per-ticker outcomes of a stage: {ticker: (status, error or None)}."""
    records = [
        {"run_id": run_id, "stage": stage, "ticker": ticker, "status": status, "error": error}
        for ticker, (status, error) in statuses.items()
    ]
    with engine.begin() as conn:
        _upsert(conn, run_item, records)


def record_outcomes(
    engine: Engine,
    run_id: str,
    stage: str,
    tickers: Iterable[str],
    failures: Mapping[str, str],
    notes: Mapping[str, str] | None = None,
) -> None:
    """Record a stage's outcome for every ticker: `failed` with its reason, `note` with a
    remark (e.g. only naive could be trained), else `ok`."""
    statuses = {t: ("ok", None) for t in tickers}
    statuses.update({t: ("note", remark) for t, remark in (notes or {}).items()})
    statuses.update({t: ("failed", reason) for t, reason in failures.items()})
    record_items(engine, run_id, stage, statuses)


def record_alerts(engine: Engine, run_id: str, alerts: pd.DataFrame) -> None:
    """Record performance-drop alerts (ticker, message): the next run retunes those tickers."""
    statuses = {row.ticker: ("alert", row.message) for row in alerts.itertuples()}
    if statuses:
        record_items(engine, run_id, "alert", statuses)


# --- reading --------------------------------------------------------------------------------


def _read(engine: Engine, query) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(query)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _dates(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    return frame


def _window(query, table, date_column: str, tickers, start, end):
    """`query` restricted to the tickers and to dates in [start, end], ordered by ticker, date."""
    if tickers is not None:
        query = query.where(table.c.ticker.in_(list(tickers)))
    if start is not None:
        query = query.where(table.c[date_column] >= pd.Timestamp(start).date())
    if end is not None:
        query = query.where(table.c[date_column] <= pd.Timestamp(end).date())
    return query.order_by(table.c.ticker, table.c[date_column])


def _filtered(table: sa.Table, date_column: str, tickers, start, end):
    return _window(sa.select(table), table, date_column, tickers, start, end)


def _page(query, limit: int | None, offset: int):
    return query.limit(limit).offset(offset) if limit is not None else query.offset(offset)


def load_prices(engine: Engine, tickers=None, start=None, end=None) -> pd.DataFrame:
    """Stored prices as the canonical long frame (dates as naive Timestamps)."""
    frame = _read(engine, _filtered(stock_price, "date", tickers, start, end))
    return _dates(frame, "date")


def load_predictions(
    engine: Engine, tickers=None, start=None, end=None, limit: int | None = None, offset: int = 0
) -> pd.DataFrame:
    """`stock_pred` rows with target_date in [start, end], optionally one page of them."""
    query = _filtered(stock_pred, "target_date", tickers, start, end).order_by(stock_pred.c.model)
    return _dates(_read(engine, _page(query, limit, offset)), "target_date", "as_of_date")


def _evaluations_query(tickers, start, end):
    keys = ("ticker", "target_date", "model")
    query = sa.select(
        stock_pred_eval,
        stock_pred.c.as_of_date,
        stock_pred.c.is_champion,
        stock_pred.c.pred_lower,
        stock_pred.c.pred_upper,
    ).join(stock_pred, sa.and_(*(stock_pred.c[k] == stock_pred_eval.c[k] for k in keys)))
    query = _window(query, stock_pred_eval, "target_date", tickers, start, end)
    return query.order_by(stock_pred_eval.c.model)


def load_evaluations(
    engine: Engine, tickers=None, start=None, end=None, limit: int | None = None, offset: int = 0
) -> pd.DataFrame:
    """`stock_pred_eval` rows joined with their prediction's as-of date, interval and champion
    flag, with target_date in [start, end], optionally one page of them."""
    query = _page(_evaluations_query(tickers, start, end), limit, offset)
    return _dates(_read(engine, query), "target_date", "as_of_date")


def count_predictions(engine: Engine, ticker: str, start=None, end=None) -> int:
    """How many `stock_pred` rows `load_predictions` would return unpaged."""
    query = _filtered(stock_pred, "target_date", [ticker], start, end).order_by(None)
    return _count_query(engine, query)


def count_evaluations(engine: Engine, ticker: str, start=None, end=None) -> int:
    """How many rows `load_evaluations` would return unpaged."""
    return _count_query(engine, _evaluations_query([ticker], start, end).order_by(None))


def _count_query(engine: Engine, query) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()


def latest_predictions(engine: Engine, ticker: str) -> pd.DataFrame:
    """Every candidate's row for the ticker's newest target session, with the as-of close."""
    newest = sa.select(sa.func.max(stock_pred.c.target_date)).where(stock_pred.c.ticker == ticker)
    query = (
        sa.select(stock_pred, stock_price.c.close.label("as_of_close"))
        .outerjoin(
            stock_price,
            sa.and_(
                stock_price.c.ticker == stock_pred.c.ticker,
                stock_price.c.date == stock_pred.c.as_of_date,
            ),
        )
        .where(stock_pred.c.ticker == ticker, stock_pred.c.target_date == newest.scalar_subquery())
        .order_by(stock_pred.c.model)
    )
    return _dates(_read(engine, query), "target_date", "as_of_date")


def last_successful_run(engine: Engine) -> dict | None:
    """The newest run that finished with every ticker ok."""
    query = (
        sa.select(pipeline_run)
        .where(pipeline_run.c.status == "ok")
        .order_by(pipeline_run.c.started_at.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def load_params(engine: Engine, tickers=None, as_of=None) -> pd.DataFrame:
    """Every tuned row (or those tuned on or before `as_of`), newest last."""
    query = sa.select(model_params)
    if tickers is not None:
        query = query.where(model_params.c.ticker.in_(list(tickers)))
    if as_of is not None:
        query = query.where(model_params.c.tuned_as_of <= pd.Timestamp(as_of).date())
    query = query.order_by(model_params.c.ticker, model_params.c.model, model_params.c.tuned_as_of)
    return _dates(_read(engine, query), "tuned_as_of")


def has_ticker(engine: Engine, ticker: str) -> bool:
    """Whether any price is stored for the ticker (one primary-key lookup, no aggregate)."""
    query = sa.select(stock_price.c.ticker).where(stock_price.c.ticker == ticker).limit(1)
    with engine.connect() as conn:
        return conn.execute(query).first() is not None


def price_summary(engine: Engine) -> pd.DataFrame:
    """Per ticker: first and last stored session and the number of rows."""
    query = (
        sa.select(
            stock_price.c.ticker,
            sa.func.min(stock_price.c.date).label("first_date"),
            sa.func.max(stock_price.c.date).label("last_date"),
            sa.func.count().label("rows"),
        )
        .group_by(stock_price.c.ticker)
        .order_by(stock_price.c.ticker)
    )
    return _dates(_read(engine, query), "first_date", "last_date")


def sqlite_file_missing(url: str) -> bool:
    """Whether `url` names a SQLite file that does not exist yet (a reader must not create it)."""
    return url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file()


def connect_read_only(url: str) -> Engine:
    """An engine that cannot write: SQLite opened read-only (never created), PostgreSQL sessions
    in read-only transactions. No migration is applied; DatabaseUnavailable if unreachable, and
    from any query that fails because the database cannot answer (gone, locked, restarting)."""
    if sqlite_file_missing(url):
        raise DatabaseUnavailable(f"database {url} does not exist yet: run `make run` first")
    if url.startswith("sqlite:///"):
        import sqlite3

        uri = f"{Path(url.removeprefix('sqlite:///')).resolve().as_uri()}?mode=ro"

        def opener():
            return sqlite3.connect(uri, uri=True, check_same_thread=False)

        # One connection per checkout: the "sqlite://" URL would pick SingletonThreadPool, which
        # closes connections that other threads still use under concurrent requests.
        engine = sa.create_engine("sqlite://", creator=opener, poolclass=sa.pool.NullPool)
    else:  # keep options the URL already sets (a search_path, say) beside read-only
        parsed = sa.engine.make_url(url)
        options = " ".join(
            filter(None, [parsed.query.get("options"), "-c default_transaction_read_only=on"])
        )
        timeout = parsed.query.get("connect_timeout", "10")  # a lost server is a 503, not a hang
        engine = sa.create_engine(
            parsed.difference_update_query(["options", "connect_timeout"]),
            pool_pre_ping=True,
            connect_args={"options": options, "connect_timeout": timeout},
        )
    sa.event.listen(engine, "handle_error", _unavailable_on_operational_error(url))
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        raise _unreachable(url, exc) from None
    return engine


# SQLite's codes for a database that cannot answer now; other errors (a missing table, a write
# refused by the read-only connection) stay the driver's own.
SQLITE_UNAVAILABLE = ("SQLITE_CANTOPEN", "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR")


def _unavailable_on_operational_error(url: str):
    """A `handle_error` hook: the database failing to answer (server down, file gone, locked)
    raises DatabaseUnavailable; pre-pings are left alone so the pool can reconnect."""

    def rewrite(context) -> None:
        if context.is_pre_ping:
            return
        if not isinstance(context.sqlalchemy_exception, sa.exc.OperationalError):
            return
        code = getattr(context.original_exception, "sqlite_errorname", None)
        if code is None or code.startswith(SQLITE_UNAVAILABLE):
            raise _unreachable(url, context.original_exception)

    return rewrite


READ_TABLES = ("stock_price", "stock_pred", "stock_pred_eval", "pipeline_run", "run_item")


def schema_ready(engine: Engine) -> bool:
    """Whether a run has created the tables the readers query (a fresh database has none)."""
    with engine.connect() as conn:
        return set(READ_TABLES) <= set(sa.inspect(conn).get_table_names())


def recent_runs(engine: Engine, limit: int = 10) -> pd.DataFrame:
    """The newest runs first."""
    query = sa.select(pipeline_run).order_by(pipeline_run.c.started_at.desc()).limit(limit)
    return _read(engine, query)


def run_items(engine: Engine, run_ids: Iterable[str]) -> pd.DataFrame:
    """Per-ticker outcomes of the given runs."""
    query = (
        sa.select(run_item)
        .where(run_item.c.run_id.in_(list(run_ids)))
        .order_by(run_item.c.run_id, run_item.c.stage, run_item.c.ticker)
    )
    return _read(engine, query)


def pending_retunes(engine: Engine) -> list[str]:
    """Tickers with a performance-drop alert not followed by a tune in a later-started run."""
    alert_run, tune_run = pipeline_run.alias("alert_run"), pipeline_run.alias("tune_run")
    retuned = (
        sa.select(model_params.c.ticker)
        .join(tune_run, tune_run.c.run_id == model_params.c.run_id)
        .where(
            model_params.c.ticker == run_item.c.ticker,
            tune_run.c.started_at > alert_run.c.started_at,
        )
    )
    query = (
        sa.select(run_item.c.ticker)
        .distinct()
        .join(alert_run, alert_run.c.run_id == run_item.c.run_id)
        .where(run_item.c.stage == "alert", ~sa.exists(retuned))
        .order_by(run_item.c.ticker)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


# --- the run lock on PostgreSQL ---------------------------------------------------------------


def _advisory_key(conn: Connection) -> int:
    """One lock per database and schema, however the URL spells the server's name."""
    import hashlib

    where = conn.execute(
        sa.text("SELECT current_database() || '.' || coalesce(current_schema(), '')")
    ).scalar()
    digest = hashlib.sha256(f"stockcast.pipeline:{where}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _unreachable(url: str, exc: Exception) -> DatabaseUnavailable:
    """One line naming the database (secrets masked, in the URL and in the driver's reason)."""
    reason = first_line(getattr(exc, "orig", None) or exc)
    reason = mask_secrets(reason, url)
    path = _sqlite_path(url)
    if path is not None and "file is not a database" in reason:
        return DatabaseUnavailable(
            f"database file {path} is not a SQLite database ({reason}): move it aside or "
            "delete it; the next run creates a new one"
        )
    if path is not None:
        return DatabaseUnavailable(
            f"database file {path} is unreachable ({reason}): check STOCKCAST_DB_URL and "
            "the file's folder and permissions"
        )
    return DatabaseUnavailable(
        f"database {mask_url(url)} is unreachable ({reason}): check STOCKCAST_DB_URL "
        "and that the server is running"
    )


def _lock_connection(url: str, name: str | None = None) -> Connection:
    args = {"application_name": name[:63]} if name else {}
    try:
        return sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args=args).connect()
    except sa.exc.SQLAlchemyError as exc:
        raise _unreachable(url, exc) from None


def try_advisory_lock(url: str, holder: str) -> Connection | None:
    """A connection holding this database's pipeline advisory lock, or None if another holds it.

    The lock lives as long as the connection: close it to release, or die and it is released.
    The connection's application name is `holder`, so a refused run can name who holds it.
    """
    conn = _lock_connection(url, holder)
    got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": _advisory_key(conn)})
    if got.scalar():
        conn.commit()
        return conn
    conn.close()
    return None


def advisory_lock_holder(url: str) -> str | None:
    """The `holder` given by the session that holds the pipeline lock, if this role can see it."""
    query = sa.text(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid::bigint = :high AND l.objid::bigint = :low"
    )
    try:
        with _lock_connection(url) as conn:
            key = _advisory_key(conn) & 0xFFFFFFFFFFFFFFFF
            holder = conn.execute(query, {"high": key >> 32, "low": key & 0xFFFFFFFF}).scalar()
    except (sa.exc.SQLAlchemyError, DatabaseUnavailable):
        return None
    return holder or None


def running_run(url: str) -> str | None:
    """The newest run still marked `running`, if the tables exist yet."""
    try:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            query = (
                sa.select(pipeline_run.c.run_id)
                .where(pipeline_run.c.status == "running")
                .order_by(pipeline_run.c.started_at.desc())
                .limit(1)
            )
            return conn.execute(query).scalar()
    except sa.exc.SQLAlchemyError:
        return None
