"""Shared body of every service's `migrations/env.py`."""
from alembic import context
from sqlalchemy import create_engine, pool

from servicekit import config


def run(service: str, target_metadata) -> None:
    cfg = context.config
    url = cfg.get_main_option("sqlalchemy.url") or config.database_url(service)
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
