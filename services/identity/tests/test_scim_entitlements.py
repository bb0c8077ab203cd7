"""identity.scim.entitlements_changed.v1 (docs/scim.md, "How the effects flow"): published in the transaction of
the SCIM change that alters a person's entitlements (never for one that does not, never for a refused one), the
person's whole state, with a version that grows by one per event, also under concurrent changes. Real
PostgreSQL and RabbitMQ (the identity container); the payloads are read from identity's outbox."""
import uuid

import pytest
from sqlalchemy import create_engine, text

from contracts.errors import AppError
from servicekit import config
from services.identity.tests.conftest import new_email, new_org
from tests.support.answers import answers

EVENT = "identity.scim.entitlements_changed.v1"


def states(org_id: str, user_id: str | None = None) -> list[dict]:
    engine = create_engine(config.database_url("identity"))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT envelope->'payload' FROM kit_outbox WHERE event_type = :t "
                                 "AND envelope->>'org_id' = :o ORDER BY id"), {"t": EVENT, "o": org_id}).scalars()
        found = [r for r in rows if user_id is None or r["user_id"] == user_id]
    engine.dispose()
    return found


def user(email: str) -> dict:
    return {"userName": email, "emails": [{"value": email, "primary": True}], "active": True,
            "name": {"formatted": "Sam Scim"}}


def deactivate(value) -> dict:
    return {"Operations": [{"op": "replace", "path": "active", "value": value}]}


def test_the_state_is_published_with_each_change_of_it_and_only_then(identity):
    org_id = new_org(identity)
    program_id, contract_id = str(uuid.uuid4()), str(uuid.uuid4())
    mapping = identity.set_scim_group_mapping(org_id, "Data", program_id, contract_id)
    sam = identity.scim_create_user(org_id, user(new_email("sam")))["resource"]
    assert states(org_id) == []  # in no mapped group: entitled to nothing, nothing to say
    group = identity.scim_create_group(org_id, {"displayName": "data", "members": [{"value": sam["id"]}]})
    wanted = [{"program_id": program_id, "contract_id": contract_id}]
    (first,) = states(org_id)
    assert first == {"org_id": org_id, "user_id": sam["id"], "version": 1, "active": True, "verified": False,
                     "email": sam["userName"], "full_name": "Sam Scim", "notify_exit": True, "programs": wanted}
    identity.scim_patch_user(org_id, sam["id"], {"Operations": [{"op": "replace", "path": "title", "value": "X"}]})
    with pytest.raises(AppError):  # refused (If-Match): nothing published
        identity.scim_patch_user(org_id, sam["id"], deactivate(False), 'W/"999"')
    assert len(states(org_id)) == 1  # a title changes no entitlement
    identity.update_organization(org_id, {"deprovision_exit_email": False})
    identity.scim_patch_user(org_id, sam["id"], deactivate(False))
    identity.scim_patch_user(org_id, sam["id"], deactivate(True))
    identity.remove_scim_group_mapping(org_id, mapping["id"])
    identity.set_scim_group_mapping(org_id, "DATA", program_id, contract_id)
    identity.set_scim_group_mapping(org_id, "DATA", program_id, contract_id)  # again: sent again (retries refusals)
    identity.scim_patch_group(org_id, group["resource"]["id"], {"Operations": [
        {"op": "remove", "path": f'members[value eq "{sam["id"]}"]'}]})
    identity.scim_delete_user(org_id, sam["id"])
    seen = [(s["version"], s["active"], s["programs"], s["notify_exit"]) for s in states(org_id)]
    assert seen == [(1, True, wanted, True), (2, False, [], False), (3, True, wanted, False), (4, True, [], False),
                    (5, True, wanted, False), (6, True, wanted, False), (7, True, [], False),
                    (8, False, [], False)]
    # provisioned again: the sequence continues (consumers remember the version applied)
    again = identity.scim_create_user(org_id, user(sam["userName"]))["resource"]
    assert again["id"] == sam["id"]
    assert states(org_id)[-1]["version"] == 9 and states(org_id)[-1]["active"] is True


def test_concurrent_changes_of_one_person_get_distinct_versions_in_commit_order(identity):
    org_id = new_org(identity)
    program_ids = [str(uuid.uuid4()) for _ in range(6)]
    for n, program_id in enumerate(program_ids):
        identity.set_scim_group_mapping(org_id, f"G{n}", program_id, str(uuid.uuid4()))
    sam = identity.scim_create_user(org_id, user(new_email("sam")))["resource"]
    calls = [identity.scim_create_group.call_async(org_id, {"displayName": f"G{n}", "members": [{"value": sam["id"]}]})
             for n in range(6)]
    assert answers(calls) == ["OK"] * 6
    published = states(org_id, sam["id"])
    assert sorted(s["version"] for s in published) == list(range(1, 7))
    last = max(published, key=lambda s: s["version"])
    assert sorted(p["program_id"] for p in last["programs"]) == sorted(program_ids)  # the latest state has all
    assert [len(s["programs"]) for s in sorted(published, key=lambda s: s["version"])] == [1, 2, 3, 4, 5, 6]
