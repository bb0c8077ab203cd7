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


# ------------------------------------------- verified outside SCIM: published at once (docs/scim.md, "Trust")


def accounts(identity_db, emails: list[str]) -> dict[str, tuple[bool, bool]]:
    """email -> (verified, has a password)."""
    with identity_db.connect() as conn:
        rows = conn.execute(text("SELECT email, email_verified_at IS NOT NULL, password_hash IS NOT NULL FROM users "
                                 "WHERE email = ANY(:e)"), {"e": emails}).all()
    return {email: (verified, password) for email, verified, password in rows}


def in_mapped_group(identity, org_id: str, emails: list[str]) -> tuple[list[dict], list[dict]]:
    """The emails provisioned, all in group "Data" mapped to a new program; the people and the programs wanted."""
    program = [{"program_id": str(uuid.uuid4()), "contract_id": str(uuid.uuid4())}]
    identity.set_scim_group_mapping(org_id, "Data", program[0]["program_id"], program[0]["contract_id"])
    people = [identity.scim_create_user(org_id, user(email))["resource"] for email in emails]
    identity.scim_create_group(org_id, {"displayName": "Data", "members": [{"value": p["id"]} for p in people]})
    return people, program


def test_a_domain_verified_verifies_its_scim_users_and_publishes_their_states_in_its_transaction(identity, identity_db):
    from servicekit.standalone import unit_of_work
    from services.identity.sso.config import verify_domain

    org_id, other_org = new_org(identity), new_org(identity)
    domain = f"d{uuid.uuid4().hex[:10]}.example"
    ann, bob, shared, loner = (f"{n}@{domain}" for n in ("ann", "bob", "shared", "loner"))
    outsider, signed_up = new_email("outsider"), f"signed-up@{domain}"
    identity.signup(signed_up, "Sid", "a good long password")  # an unverified account with a password
    (a, b, s, o, su), program = in_mapped_group(identity, org_id, [ann, bob, shared, outsider, signed_up])
    identity.scim_create_user(org_id, user(loner))  # in no group: no state, nothing to publish
    (s2,), program2 = in_mapped_group(identity, other_org, [shared])
    assert [x["verified"] for x in states(org_id)] == [False] * 5
    assert accounts(identity_db, [signed_up])[signed_up] == (False, True)

    with unit_of_work("identity") as uow:
        verify_domain(uow, org_id, domain)

    after = {x["user_id"]: x for x in states(org_id)[5:]}
    assert sorted(after) == sorted(p["id"] for p in (a, b, s, su))  # the outsider's state did not change
    assert {(x["version"], x["verified"], x["active"], x["programs"] == program) for x in after.values()} == \
        {(2, True, True, True)}
    # the shared person is verified in the other organization too: its state there says so at once
    assert [(x["version"], x["verified"], x["programs"]) for x in states(other_org, s2["id"])] == \
        [(1, False, program2), (2, True, program2)]
    found = accounts(identity_db, [ann, bob, shared, loner, outsider, signed_up])
    assert found == {ann: (True, False), bob: (True, False), shared: (True, False), loner: (True, False),
                     outsider: (False, False), signed_up: (True, False)}  # the unproven password forgotten
    assert states(org_id, o["id"])[-1]["version"] == 1
    # a later SCIM change publishes nothing more (the state is the one published)
    identity.scim_patch_user(org_id, a["id"], {"Operations": [{"op": "replace", "path": "title", "value": "X"}]})
    assert len(states(org_id, a["id"])) == 2


def test_an_account_verifying_its_address_publishes_its_state_in_every_organization_that_provisioned_it(
        identity, identity_db):
    from services.identity.tests.conftest import verify_tokens

    org_id, other_org, third_org = new_org(identity), new_org(identity), new_org(identity)
    email = new_email("lee")
    identity.signup(email, "Lee", "a good long password")
    (lee,), program = in_mapped_group(identity, org_id, [email])
    (lee2,), program2 = in_mapped_group(identity, other_org, [email])
    identity.scim_create_user(third_org, user(email))  # provisioned there, in no group: nothing to say
    other = identity.scim_create_user(org_id, user(new_email("other")))["resource"]
    identity.scim_patch_group(org_id, identity.scim_list_groups(org_id, None, 1, 10)["resources"][0]["id"],
                              {"Operations": [{"op": "add", "path": "members", "value": [{"value": other["id"]}]}]})
    (token,) = verify_tokens(identity_db, email)
    identity.verify_email(token)
    assert [(x["version"], x["verified"], x["programs"]) for x in states(org_id, lee["id"])] == \
        [(1, False, program), (2, True, program)]
    assert [(x["version"], x["verified"], x["programs"]) for x in states(other_org, lee2["id"])] == \
        [(1, False, program2), (2, True, program2)]
    assert states(third_org) == []
    assert [x["version"] for x in states(org_id, other["id"])] == [1]  # only the account verified


def test_an_account_verified_by_accepting_an_invitation_is_announced_at_its_next_scim_change(identity, identity_db):
    """Not at once (docs/scim.md, "What is not supported"): the invitation's own join follows the acceptance, and
    programs joining the person from the event first would refuse that join as ALREADY_MEMBER."""
    org_id = new_org(identity)
    email = new_email("ivy")
    (ivy,), program = in_mapped_group(identity, org_id, [email])
    identity.account_for_invitation(email, "Ivy", "a good long password")
    assert accounts(identity_db, [email])[email] == (True, True)
    assert [x["verified"] for x in states(org_id, ivy["id"])] == [False]
    identity.scim_patch_user(org_id, ivy["id"], {"Operations": [{"op": "replace", "path": "title", "value": "X"}]})
    assert [(x["version"], x["verified"]) for x in states(org_id, ivy["id"])] == [(1, False), (2, True)]
