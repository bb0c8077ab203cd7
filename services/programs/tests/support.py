"""Helpers of programs' service tests."""
import uuid
from datetime import date, timedelta

from sqlalchemy import create_engine, text

from servicekit import config

TODAY = date.today()


def scalar(sql, **params):
    engine = create_engine(config.database_url("programs"))
    with engine.connect() as conn:
        value = conn.execute(text(sql), params).scalar()
    engine.dispose()
    return value


def setup_program(programs, licenses=10, limit=None, starts_on=None, ends_on=None):
    org_id = str(uuid.uuid4())
    contract = programs.create_contract(org_id, {
        "name": "Year 1", "license_count": licenses,
        "starts_on": str(starts_on or TODAY - timedelta(days=1)),
        "ends_on": str(ends_on or TODAY + timedelta(days=30))})
    program = programs.create_program(org_id, {"name": "Academy", "contract_ids": [contract["id"]],
                                               "enrollment_limit": limit})
    return org_id, contract, program
