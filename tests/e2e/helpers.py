"""What several end-to-end tests do the same way."""
from datetime import date, timedelta

import kombu

from contracts.envelope import make_envelope
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
