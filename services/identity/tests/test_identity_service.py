"""identity through its RPC interface, in a nameko container, on the real
PostgreSQL and RabbitMQ."""
import uuid

import eventlet
import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import create_engine, text

from contracts.errors import AppError
from servicekit import config
from services.identity.service import IdentityService


@pytest.fixture
def identity(container_factory, rabbit_config, service_databases):
    container_factory(IdentityService, rabbit_config).start()
    with ServiceRpcProxy("identity", rabbit_config) as proxy:
        yield proxy


def outbox_types(org_id: str) -> list[str]:
    engine = create_engine(config.database_url("identity"))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT event_type FROM kit_outbox WHERE envelope->>'org_id' = :o ORDER BY id"),
                            {"o": org_id}).scalars().all()
    engine.dispose()
    return rows


def new_org(identity) -> str:
    return identity.create_organization({"name": f"Org {uuid.uuid4().hex[:6]}"})["id"]


def test_ensure_person_is_idempotent_and_case_insensitive(identity):
    org_id = new_org(identity)
    first = identity.ensure_person(org_id, {"email": "Pat@Example.com ", "full_name": "Pat", "external_id": "E1"})
    again = identity.ensure_person(org_id, {"email": "pat@example.com", "full_name": "Pat P."})
    assert first["user_id"] == again["user_id"] and again["external_id"] == "E1"
    assert first["email"] == "pat@example.com"


def test_external_id_is_unique_within_an_org(identity):
    org_id = new_org(identity)
    identity.ensure_person(org_id, {"email": f"{uuid.uuid4().hex[:6]}@x.com", "full_name": "A", "external_id": "X"})
    with pytest.raises(AppError) as conflict:
        identity.ensure_person(org_id, {"email": f"{uuid.uuid4().hex[:6]}@x.com", "full_name": "B",
                                        "external_id": "X"})
    assert conflict.value.code == "CONFLICT"


def test_concurrent_admin_grants_give_one_role(identity):
    org_id = new_org(identity)
    email = f"{uuid.uuid4().hex[:6]}@example.com"
    calls = [identity.add_admin.call_async(org_id, email, "Al", "PROGRAM_ADMIN", [f"p{i}"]) for i in range(5)]
    results, errors = [], []
    for call in calls:
        try:
            results.append(call.result())
        except AppError as exc:
            errors.append(exc.code)
        except Exception as exc:  # a unique violation would surface here as a RemoteError
            errors.append(type(exc).__name__)
    admins = identity.list_admins(org_id)
    assert len(admins) == 1 and admins[0]["role"] == "PROGRAM_ADMIN"
    assert set(admins[0]["program_ids"]) <= {f"p{i}" for i in range(5)}
    assert results, errors


def test_events_of_admin_changes_are_recorded_with_the_change(identity):
    org_id = new_org(identity)
    admin = identity.add_admin(org_id, f"{uuid.uuid4().hex[:6]}@example.com", "Bo", "ORG_ADMIN", [])
    identity.add_admin(org_id, f"{uuid.uuid4().hex[:6]}@example.com", "Cy", "ORG_ADMIN", [])
    identity.remove_admin(org_id, admin["id"])
    eventlet.sleep(0)
    types = outbox_types(org_id)
    assert types.count("identity.admin.granted.v1") == 2 and types.count("identity.admin.revoked.v1") == 1
    assert types.count("identity.user.password_reset_requested.v1") == 2  # first-password links


def test_last_org_admin_cannot_be_removed(identity):
    org_id = new_org(identity)
    only = identity.add_admin(org_id, f"{uuid.uuid4().hex[:6]}@example.com", "Di", "ORG_ADMIN", [])
    with pytest.raises(AppError) as refused:
        identity.remove_admin(org_id, only["id"])
    assert refused.value.code == "RULE_VIOLATION"


def test_admin_of_another_org_cannot_be_removed_through_this_org(identity):
    org_a, org_b = new_org(identity), new_org(identity)
    identity.add_admin(org_b, f"{uuid.uuid4().hex[:6]}@example.com", "Ed", "ORG_ADMIN", [])
    b_admin = identity.add_admin(org_b, f"{uuid.uuid4().hex[:6]}@example.com", "Flo", "ORG_ADMIN", [])
    with pytest.raises(AppError) as hidden:
        identity.remove_admin(org_a, b_admin["id"])
    assert hidden.value.code == "NOT_FOUND"


def test_invitation_account_is_created_verified_and_needs_a_password(identity):
    email = f"{uuid.uuid4().hex[:6]}@example.com"
    with pytest.raises(AppError) as needs_password:
        identity.account_for_invitation(email, "Gil", None)
    assert needs_password.value.code == "INVALID_INPUT"
    user = identity.account_for_invitation(email, "Gil", "a long password")
    assert user["email_verified"] is True
    tokens = identity.login(email, "a long password")
    assert tokens["access_token"] and tokens["refresh_token"].startswith("rt_")


def test_member_joined_links_the_account_to_the_org_once(identity, rabbit_config):
    import kombu

    from contracts.envelope import make_envelope

    org_id = new_org(identity)
    user = identity.account_for_invitation(f"{uuid.uuid4().hex[:6]}@example.com", "Hal", "a long password")
    with pytest.raises(AppError):
        identity.get_person(org_id, user["id"])
    envelope = make_envelope("programs.member.joined.v1", {
        "membership_id": "m1", "org_id": org_id, "program_id": "p1", "program_name": "P", "user_id": user["id"],
        "email": user["email"], "full_name": "Hal", "contract_id": "c1", "invitation_id": None,
        "joined_at": "2026-01-01T00:00:00+00:00"}, source="programs", org_id=org_id)
    with kombu.Connection(rabbit_config["AMQP_URI"]) as conn:
        exchange = kombu.Exchange("programs.events", type="topic", durable=True)
        for _ in range(2):  # a redelivery
            conn.Producer().publish(envelope, exchange=exchange, routing_key=envelope["type"], declare=[exchange],
                                    serializer="json")
    for _ in range(100):
        try:
            person = identity.get_person(org_id, user["id"])
            break
        except AppError:
            eventlet.sleep(0.05)
    assert person["email"] == user["email"]
    eventlet.sleep(0.3)
    assert outbox_types(org_id).count("identity.profile.updated.v1") == 1
