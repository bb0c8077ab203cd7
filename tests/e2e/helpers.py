"""What several end-to-end tests do the same way."""
from datetime import date, timedelta

import kombu
import pytest
from sqlalchemy import create_engine, text

from contracts.envelope import make_envelope
from servicekit.standalone import unit_of_work
from tests.e2e.conftest import Api, unique


def publish_event(suite, source: str, event_type: str, payload: dict, org_id) -> None:
    """Publish an event straight to the suite's broker, as `source` would."""
    envelope = make_envelope(event_type, payload, source=source, org_id=org_id)
    with kombu.Connection(suite.env["BROKER_URL"]) as conn:
        exchange = kombu.Exchange(f"{source}.events", type="topic", durable=True)
        conn.Producer().publish(envelope, exchange=exchange, routing_key=event_type, declare=[exchange],
                                serializer="json")


def program_with_contract(admin: Api, org_id: str, license_count: int = 50) -> tuple[dict, dict]:
    """A new program on a new contract that is active today: (program, contract)."""
    today = date.today()
    contract = admin.post(f"/v1/orgs/{org_id}/contracts", json={
        "name": unique("Contract"), "license_count": license_count, "starts_on": str(today - timedelta(days=1)),
        "ends_on": str(today + timedelta(days=365))})
    assert contract.status_code == 201, contract.text
    program = admin.post(f"/v1/orgs/{org_id}/programs", json={"name": unique("Program"),
                                                             "contract_ids": [contract.json()["id"]]})
    assert program.status_code == 201, program.text
    return program.json(), contract.json()


def add_program_admin(suite, api: Api, org_id: str, program_ids: list[str]) -> Api:
    """A program admin with a password, added the way identity does it."""
    from services.identity.commands import accounts, admins

    email = f"{unique('padmin')}@example.com"
    with unit_of_work("identity", suite.database_url("identity")) as uow:
        # verified: an unverified account's password would not be trusted with a role
        accounts.ensure_verified_person(uow, org_id, email, "Pat Program", "correct horse battery")
        admins.add_admin(uow, org_id, email, "Pat Program", "PROGRAM_ADMIN", program_ids)
    return api.as_user(email, "correct horse battery")


def scalar(engine, sql: str, **params):
    """The single value a query answers."""
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def database_fixture(service: str):
    """A module fixture: an engine on the suite's database of `service`."""

    @pytest.fixture(scope="module")
    def engine(suite):
        engine = create_engine(suite.database_url(service))
        yield engine
        engine.dispose()

    return engine
