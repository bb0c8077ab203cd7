"""A unit of work outside nameko, for commands (bootstrap, demo data, loaders).
Events recorded here are published by the service's relay once it runs."""
import json
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from contracts.errors import invalid
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


def read_json_file(path, what: str):
    """The JSON of a file a command loads (UTF-8, a byte order mark allowed); one that cannot be
    read or parsed is INVALID_INPUT "cannot read the <what> file"."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise invalid({"file": [str(exc)]}, f"cannot read the {what} file") from None
