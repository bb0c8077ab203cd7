"""Reports tests against reporting's real database (its projections written
directly, as reporting's handlers would), no broker needed."""
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from servicekit import config
from servicekit.db import UnitOfWork


@pytest.fixture
def engine(service_databases):
    engine = create_engine(config.database_url("reporting"))
    yield engine
    engine.dispose()


@pytest.fixture
def unit_of_work(engine):
    factory = sessionmaker(engine, expire_on_commit=False)
    return lambda: UnitOfWork(factory, "reporting")


def new_id() -> str:
    return str(uuid.uuid4())


def execute(engine, sql: str, **params):
    with engine.begin() as conn:
        return conn.execute(text(sql), params)


def add_org(engine, name="Acme", timezone="UTC", schedule=None) -> str:
    import json

    org_id = new_id()
    execute(engine, "INSERT INTO orgs (org_id, name, timezone, report_schedule) "
                    "VALUES (:o, :n, :tz, CAST(:s AS jsonb))",
            o=org_id, n=name, tz=timezone, s=json.dumps(schedule) if schedule else None)
    return org_id


def add_program(engine, org_id, name="Data Skills", slug=None) -> str:
    program_id = new_id()
    execute(engine, "INSERT INTO programs (program_id, org_id, name, slug) VALUES (:p, :o, :n, :s)",
            p=program_id, o=org_id, n=name, s=slug or name.lower().replace(" ", "-"))
    return program_id


def add_admin(engine, org_id, email, role="ORG_ADMIN", program_ids=(), full_name="Ada Admin", user_id=None) -> str:
    user_id = user_id or new_id()
    execute(engine, "INSERT INTO admins (admin_id, org_id, user_id, email, full_name, role, program_ids) "
                    "VALUES (:a, :o, :u, :e, :n, :r, :p)",
            a=new_id(), o=org_id, u=user_id, e=email, n=full_name, r=role, p=list(program_ids))
    return user_id


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)
