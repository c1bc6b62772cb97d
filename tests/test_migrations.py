"""The Alembic migrations and the SQLAlchemy metadata describe the same schema.

If they drift apart, the next `alembic revision --autogenerate` would write a migration that
undoes the difference (drop an index the queries rely on, say): so a database upgraded to head
must compare equal to `store.metadata`, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import sys

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from stockcast import store


def _schema_diff(url: str, metadata: sa.MetaData) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()


def test_a_database_migrated_to_head_matches_the_metadata(db_url):
    store.connect(db_url).dispose()  # a fresh database, upgraded to head by the store
    assert _schema_diff(db_url, store.metadata) == []


def test_the_comparison_sees_a_missing_index(db_url):
    """The check above can fail: metadata without one of the migration's indexes differs."""
    store.connect(db_url).dispose()
    trimmed = sa.MetaData()
    for table in store.metadata.tables.values():
        copy = table.to_metadata(trimmed)
        for index in [i for i in copy.indexes if i.name == "ix_stock_pred_as_of"]:
            copy.indexes.discard(index)
    diff = _schema_diff(db_url, trimmed)
    assert [(d[0], d[1].name) for d in diff] == [("remove_index", "ix_stock_pred_as_of")]


def test_the_alembic_command_line_upgrades_and_checks_a_fresh_database(tmp_path):
    """`alembic -c <store's alembic.ini>` works as the migrations' docstring says: upgrade a new
    SQLite file named by STOCKCAST_DB_URL to head, then `check` finds nothing to generate."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "STOCKCAST_DB_URL": url, "STOCKCAST_OUTPUTS": str(tmp_path)}
    ini = str(store.MIGRATIONS_DIR / "alembic.ini")
    for command in (["upgrade", "head"], ["check"]):
        done = subprocess.run(
            [sys.executable, "-m", "alembic", "-c", ini, *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == store.head_revision()
    engine.dispose()
