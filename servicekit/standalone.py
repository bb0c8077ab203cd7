"""A unit of work outside nameko, for commands (bootstrap, demo data, loaders).
Events recorded here are published by the service's relay once it runs."""
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from servicekit import config
from servicekit.db import UnitOfWork


@contextmanager
def unit_of_work(service: str, database_url: str | None = None):
    engine = create_engine(database_url or config.database_url(service), hide_parameters=True)
    uow = UnitOfWork(sessionmaker(engine, expire_on_commit=False), service)
    try:
        yield uow
        uow.commit()
    finally:
        uow.rollback()
        uow.close()
        engine.dispose()
