"""The six tables: prices, predictions, their evaluation, tuned parameters and run records.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stock_price",
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
    op.create_table(
        "stock_pred",
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
    op.create_index("ix_stock_pred_as_of", "stock_pred", ["ticker", "as_of_date"])
    op.create_table(
        "stock_pred_eval",
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
    op.create_table(
        "model_params",
        sa.Column("ticker", sa.String(32), primary_key=True),
        sa.Column("model", sa.String(32), primary_key=True),
        sa.Column("tuned_as_of", sa.Date, primary_key=True),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("cv_rmse", sa.Float),
        sa.Column("run_id", sa.String(96), nullable=False),
    )
    op.create_table(
        "pipeline_run",
        sa.Column("run_id", sa.String(96), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("as_of_date", sa.Date),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("report_dir", sa.String(512)),
    )
    op.create_index("ix_pipeline_run_started", "pipeline_run", ["started_at"])
    op.create_table(
        "run_item",
        sa.Column("run_id", sa.String(96), primary_key=True),
        sa.Column("stage", sa.String(32), primary_key=True),
        sa.Column("ticker", sa.String(32), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
    )


def downgrade() -> None:
    for table in (
        "run_item",
        "pipeline_run",
        "model_params",
        "stock_pred_eval",
        "stock_pred",
        "stock_price",
    ):
        op.drop_table(table)
