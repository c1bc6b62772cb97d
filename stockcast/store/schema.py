"""The six tables as SQLAlchemy metadata: what the queries build on and what Alembic compares
against (tests/test_migrations.py keeps it equal to the migrations, indexes included).

A schema change is a new migration in `migrations/versions/` plus the same change here.
"""

from __future__ import annotations

import sqlalchemy as sa

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
    sa.Index("ix_stock_pred_as_of", "ticker", "as_of_date"),
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
    sa.Index("ix_pipeline_run_started", "started_at"),
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

# The tables the readers (status, API, dashboard) query: present once a run has migrated.
READ_TABLES = ("stock_price", "stock_pred", "stock_pred_eval", "pipeline_run", "run_item")
