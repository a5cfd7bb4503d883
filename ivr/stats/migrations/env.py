"""Alembic's environment: the statistics tables, in their own version table."""

from __future__ import annotations

from alembic import context

from ivr.stats.store import VERSION_TABLE, make_engine, metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url is not None
engine = make_engine(url)
try:
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
        with context.begin_transaction():
            context.run_migrations()
finally:
    engine.dispose()
