"""identity through its RPC interface, in a nameko container, on the real
PostgreSQL and RabbitMQ."""
import uuid

import eventlet
import pytest
from sqlalchemy import create_engine, text

from contracts.errors import AppError
from servicekit import config
from services.identity.tests.conftest import new_org


def outbox_types(org_id: str) -> list[str]:
    engine = create_engine(config.database_url("identity"))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT event_type FROM kit_outbox WHERE envelope->>'org_id' = :o ORDER BY id"),
                            {"o": org_id}).scalars().all()
    engine.dispose()
    return rows


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


def outbox_payloads(org_id: str, event_type: str) -> list[dict]:
    engine = create_engine(config.database_url("identity"))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT envelope->'payload' FROM kit_outbox WHERE event_type = :t "
                                 "AND (envelope->>'org_id' = :o OR envelope->>'org_id' IS NULL) ORDER BY id"),
                            {"o": org_id, "t": event_type}).scalars().all()
    engine.dispose()
    return rows


def test_ensure_people_answers_each_person_and_refuses_only_the_bad_ones(identity):
    org_id = new_org(identity)
    tag = uuid.uuid4().hex[:6]
    known = identity.ensure_person(org_id, {"email": f"known-{tag}@x.com", "full_name": "Known", "external_id": "K1"})
    answers = identity.ensure_people(org_id, [
        {"email": f"New-{tag}@X.com", "full_name": "New Person", "external_id": "N1"},
        {"email": f"known-{tag}@x.com", "full_name": "Known again", "job_title": "Engineer"},
        {"email": f"thief-{tag}@x.com", "full_name": "Thief", "external_id": "K1"},   # held by `known`
        {"email": f"twin-a-{tag}@x.com", "full_name": "Twin A", "external_id": "T1"},
        {"email": f"twin-b-{tag}@x.com", "full_name": "Twin B", "external_id": "T1"},  # claimed just above
        {"email": "not an email", "full_name": "Broken"},
        {"email": f"new-{tag}@x.com", "full_name": "Same as the first"},                 # same email, once
    ])
    new, again, thief, twin_a, twin_b, broken, same = answers
    assert new["email"] == f"new-{tag}@x.com" and new["external_id"] == "N1" and new["org_id"] == org_id
    assert again["user_id"] == known["user_id"] and again["external_id"] == "K1" and again["job_title"] == "Engineer"
    assert again["full_name"] == "Known"  # an existing account keeps its name
    assert thief["error"]["code"] == "CONFLICT" and twin_b["error"]["code"] == "CONFLICT"
    assert twin_a["external_id"] == "T1"
    assert broken["error"]["code"] == "INVALID_INPUT" and "email" in broken["error"]["details"]
    assert same == new
    # a refused new person gets no account
    assert identity.find_user(f"thief-{tag}@x.com") is None

    # one event for the accounts created, one for the profiles created or filled in
    [registered] = [p for p in outbox_payloads(org_id, "identity.users.registered.v1")
                    if any(u["email"] == f"new-{tag}@x.com" for u in p["users"])]
    assert sorted(u["email"] for u in registered["users"]) == sorted([f"new-{tag}@x.com", f"twin-a-{tag}@x.com"])
    [profiles] = outbox_payloads(org_id, "identity.profiles.updated.v1")
    assert sorted(p["user_id"] for p in profiles["people"]) == sorted(
        [new["user_id"], again["user_id"], twin_a["user_id"]])

    # asked again: same people, nothing created, nothing announced for unchanged profiles
    repeat = identity.ensure_people(org_id, [{"email": f"new-{tag}@x.com", "full_name": "New Person"}])
    assert repeat[0]["user_id"] == new["user_id"] and repeat[0]["external_id"] == "N1"
    assert len(outbox_payloads(org_id, "identity.profiles.updated.v1")) == 1


def test_concurrent_ensure_people_create_each_account_once(identity):
    org_id = new_org(identity)
    tag = uuid.uuid4().hex[:6]
    people = [{"email": f"p{i}-{tag}@x.com", "full_name": f"P {i}"} for i in range(200)]
    # half of the calls list the people in reverse: the inserts must still not deadlock
    calls = [identity.ensure_people.call_async(org_id, people if i % 2 else people[::-1]) for i in range(6)]
    answers = [call.result() for call in calls]
    ids = {a["email"]: a["user_id"] for answer in answers for a in answer}
    assert len(ids) == 200
    for answer in answers:
        assert all(ids[a["email"]] == a["user_id"] for a in answer)
    engine = create_engine(config.database_url("identity"))
    with engine.connect() as conn:
        accounts = conn.execute(text("SELECT count(*) FROM users WHERE email LIKE :p"),
                                {"p": f"%-{tag}@x.com"}).scalar()
        profiles = conn.execute(text("SELECT count(*) FROM profiles WHERE org_id = CAST(:o AS uuid)"),
                                {"o": org_id}).scalar()
    engine.dispose()
    assert accounts == 200 and profiles == 200


def test_concurrent_first_invitations_of_one_email_share_one_account(identity):
    """ensure_person on a new email from several calls at once: no EMAIL_TAKEN, no IntegrityError."""
    org_id = new_org(identity)
    email = f"first-{uuid.uuid4().hex[:6]}@x.com"
    calls = [identity.ensure_person.call_async(org_id, {"email": email, "full_name": "First"}) for _ in range(8)]
    assert len({call.result()["user_id"] for call in calls}) == 1
