"""SCIM's effects on memberships, from identity.scim.entitlements_changed.v1 (docs/scim.md, "How the effects
flow"): applied by version (a redelivery or an older event changes nothing), joins charged to the mapping's
contract with the checks of any join, a refused join published for the audit log, removals of what SCIM manages
only, deprovisioning as remove_person; a malformed event is parked, never looped on. Real PostgreSQL and
RabbitMQ (the programs container: events through the broker)."""
import time
import uuid

import kombu
from sqlalchemy import create_engine, text

from contracts.envelope import make_envelope
from contracts.identity import SCIM_ENTITLEMENTS_CHANGED
from servicekit import config
from servicekit.standalone import unit_of_work
from services.programs.commands.scim import apply_entitlements
from services.programs.tests.support import scalar, setup_program


def state(org_id, user_id, version, programs=(), active=True, verified=True, notify_exit=True):
    return {"org_id": org_id, "user_id": user_id, "version": version, "active": active, "verified": verified,
            "email": f"{user_id[:8]}@acme.example", "full_name": "Sam Scim", "notify_exit": notify_exit,
            "programs": [{"program_id": p["id"], "contract_id": c["id"]} for p, c in programs]}


def apply(payload):
    with unit_of_work("programs") as uow:
        return apply_entitlements(uow, payload)


def member_state(program_id, user_id):
    return scalar("SELECT state FROM memberships WHERE program_id = :p AND user_id = :u", p=program_id, u=user_id)


def used(contract_id):
    return scalar("SELECT licenses_used FROM contracts WHERE id = :id", id=contract_id)


def outbox(event_type, org_id):
    engine = create_engine(config.database_url("programs"))
    with engine.connect() as conn:
        found = conn.execute(text("SELECT envelope->'payload' FROM kit_outbox WHERE event_type = :t "
                                  "AND envelope->>'org_id' = :o ORDER BY id"), {"t": event_type, "o": org_id}).scalars()
        found = list(found)
    engine.dispose()
    return found


def test_joins_leaves_and_versions(programs):
    org_id, contract, program = setup_program(programs, licenses=5)
    user_id = str(uuid.uuid4())
    assert apply(state(org_id, user_id, 1, [(program, contract)]))["joined"] == [program["id"]]
    assert member_state(program["id"], user_id) == "MEMBER" and used(contract["id"]) == 1
    # redelivered (same version) and older: nothing changes
    assert apply(state(org_id, user_id, 1, []))["applied"] is False
    assert apply(state(org_id, user_id, 3, []))["left"] == [program["id"]]  # v3: left the group
    assert member_state(program["id"], user_id) == "DELETED_MEMBER" and used(contract["id"]) == 0
    late = apply(state(org_id, user_id, 2, [(program, contract)]))  # v2 arrives after v3: outdated, ignored
    assert late["applied"] is False
    assert member_state(program["id"], user_id) == "DELETED_MEMBER" and used(contract["id"]) == 0
    assert apply(state(org_id, user_id, 4, [(program, contract)]))["joined"] == [program["id"]]
    assert used(contract["id"]) == 1
    reasons = [p["reason"] for p in outbox("programs.member.removed.v1", org_id)]
    assert reasons == ["ADMIN_REMOVED"]


def test_an_unverified_account_is_not_joined_and_a_membership_scim_never_managed_stays(programs):
    org_id, contract, program = setup_program(programs, licenses=5)
    user_id = str(uuid.uuid4())
    assert apply(state(org_id, user_id, 1, [(program, contract)], verified=False))["joined"] == []
    assert member_state(program["id"], user_id) is None and used(contract["id"]) == 0  # invitations invites

    admin_joined = str(uuid.uuid4())
    programs.join_program(org_id, program["id"], admin_joined, contract["id"], None, email="a@acme.example",
                          full_name="A")
    apply(state(org_id, admin_joined, 1, []))  # SCIM knows them, their groups map to nothing
    assert apply(state(org_id, admin_joined, 2, []))["left"] == []
    assert member_state(program["id"], admin_joined) == "MEMBER"  # never SCIM's: a group change leaves it
    # once their groups map to it, SCIM manages it: leaving the group removes it
    assert apply(state(org_id, admin_joined, 3, [(program, contract)]))["joined"] == []
    assert member_state(program["id"], admin_joined) == "MEMBER" and used(contract["id"]) == 1
    apply(state(org_id, admin_joined, 4, []))
    assert member_state(program["id"], admin_joined) == "DELETED_MEMBER"


def test_a_refused_join_is_published_and_retried_at_the_next_event(programs):
    org_id, contract, program = setup_program(programs, licenses=1)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    apply(state(org_id, first, 1, [(program, contract)]))
    done = apply(state(org_id, second, 1, [(program, contract)]))
    assert done["refused"] == [program["id"]] and member_state(program["id"], second) is None
    refused = outbox("programs.member.join_refused.v1", org_id)
    assert [(r["user_id"], r["code"], r["via"], r["contract_id"]) for r in refused] == [
        (second, "LICENSE_LIMIT_REACHED", "SCIM", contract["id"])]
    assert scalar("SELECT refused FROM scim_entitlements WHERE user_id = :u", u=second) == [program["id"]]
    assert used(contract["id"]) == 1  # the refusal took nothing
    apply(state(org_id, first, 2, []))  # a license freed
    assert apply(state(org_id, second, 2, [(program, contract)]))["joined"] == [program["id"]]
    assert scalar("SELECT refused FROM scim_entitlements WHERE user_id = :u", u=second) == []


def test_deprovisioning_removes_every_program_and_honours_notify_exit(programs):
    org_id, contract, program = setup_program(programs, licenses=5)
    user_id = str(uuid.uuid4())
    apply(state(org_id, user_id, 1, [(program, contract)]))
    done = apply(state(org_id, user_id, 2, [], active=False, notify_exit=False))
    assert done["removed"] == 1 and used(contract["id"]) == 0
    removed = outbox("programs.member.removed.v1", org_id)
    assert [(r["reason"], r.get("notify")) for r in removed] == [("DEPROVISIONED", False)]
    assert apply(state(org_id, user_id, 2, [], active=False))["applied"] is False  # redelivered: once


def publish(rabbit_config, envelope):
    with kombu.Connection(rabbit_config["AMQP_URI"]) as conn:
        exchange = kombu.Exchange("identity.events", type="topic", durable=True)
        conn.Producer().publish(envelope, exchange=exchange, routing_key=SCIM_ENTITLEMENTS_CHANGED.type,
                                declare=[exchange], serializer="json")


def wait(condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_through_the_broker_a_redelivery_applies_once_and_malformed_events_are_parked(programs, rabbit_config):
    org_id, contract, program = setup_program(programs, licenses=5)
    user_id = str(uuid.uuid4())
    good = make_envelope(SCIM_ENTITLEMENTS_CHANGED, state(org_id, user_id, 1, [(program, contract)]),
                         source="identity", org_id=org_id)
    bad_payloads = [
        {**state(org_id, user_id, 2), "version": "2"},
        {**state(org_id, user_id, 2), "programs": [{"program_id": "not-a-uuid", "contract_id": contract["id"]}]},
        {**state(org_id, user_id, 2), "org_id": None},
        {"org_id": org_id},
    ]
    bad = [{**good, "id": str(uuid.uuid4()), "payload": payload} for payload in bad_payloads]
    bad.append({"id": str(uuid.uuid4()), "type": SCIM_ENTITLEMENTS_CHANGED.type, "payload": "\x00"})
    for envelope in [good, good, *bad, {**good, "id": str(uuid.uuid4())}]:  # then the same state, another event
        publish(rabbit_config, envelope)
    wait(lambda: scalar("SELECT count(*) FROM kit_failed_events WHERE status = 'PARKED' "
                        "AND handler = 'programs.on_scim_entitlements_changed'") == len(bad))
    wait(lambda: scalar("SELECT count(*) FROM kit_processed_events "
                        "WHERE handler = 'programs.on_scim_entitlements_changed'") >= 2)
    assert member_state(program["id"], user_id) == "MEMBER" and used(contract["id"]) == 1
    assert len(outbox("programs.member.joined.v1", org_id)) == 1  # applied once
    assert scalar("SELECT version FROM scim_entitlements WHERE user_id = :u", u=user_id) == 1
    assert scalar("SELECT max(attempts) FROM kit_failed_events WHERE handler = 'programs.on_scim_entitlements_changed'"
                  ) == 1  # parked at once: a malformed event is never retried in a loop
