"""Alembic environment: migrations run on the connection that `store.upgrade` hands over.

To change the schema: edit `stockcast/store/schema.py`, then against a database at head run
`alembic -c stockcast/store/migrations/alembic.ini revision --autogenerate -m "..."` and review
the file it writes in versions/ (tests/test_migrations.py keeps the two in agreement).
"""

from alembic import context

from stockcast.store import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # run from the alembic CLI: connect with the configured URL
    from stockcast.config import load_settings
    from stockcast.store import connect

    connection = connect(load_settings().db_url, migrate=False).connect()

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
