"""programs end to end: real HTTP through the gateway, real services, RabbitMQ
and PostgreSQL. Joining is an RPC of the invitations service; these tests make
it directly over RabbitMQ as invitations does."""
import re
import uuid
from datetime import date, timedelta

import eventlet
import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import select, text

from contracts.errors import AppError
from servicekit.standalone import unit_of_work
from services.programs.commands import catalog
from services.programs.models import Course, Specialization
from tests.e2e.conftest import Api, unique, verified_signup
from tests.e2e.helpers import add_program_admin, database_fixture, publish_event
from tests.support.waiting import wait_for

AI_FOR_EVERYONE = "daG-a-O1EeijKBISCWxf6g"
TODAY = date.today()


# ---------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def loaded_catalog(suite):
    with unit_of_work("programs", suite.database_url("programs")) as uow:
        catalog.load_catalog_file(uow, catalog.DEMO_CATALOG)
    with unit_of_work("programs", suite.database_url("programs")) as uow:
        courses = {c.slug: c.id for c in uow.session.scalars(select(Course))}
        specs = {s.slug: s for s in uow.session.scalars(select(Specialization))}
        return {"courses": courses, "specs": {slug: (s.id, list(s.course_ids)) for slug, s in specs.items()}}


@pytest.fixture(scope="module")
def rpc(suite):
    with ClusterRpcProxy({"AMQP_URI": suite.env["BROKER_URL"], "serializer": "json"}, timeout=30) as proxy:
        yield proxy


programs_db = database_fixture("programs")



def make_contract(admin, org_id, licenses=100, **overrides):
    body = {"name": unique("Contract"), "license_count": licenses, "starts_on": str(TODAY - timedelta(days=1)),
            "ends_on": str(TODAY + timedelta(days=365)), **overrides}
    response = admin.post(f"/v1/orgs/{org_id}/contracts", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def make_program(admin, org_id, contract_ids, **overrides):
    response = admin.post(f"/v1/orgs/{org_id}/programs",
                          json={"name": unique("Program"), "contract_ids": contract_ids, **overrides})
    assert response.status_code == 201, response.text
    return response.json()


def make_collection(admin, program_id, course_ids=(), specialization_ids=(), name=None):
    response = admin.post(f"/v1/programs/{program_id}/collections",
                          json={"name": name or unique("Collection"), "description": "picked for you"})
    assert response.status_code == 201, response.text
    collection = response.json()
    if course_ids or specialization_ids:
        response = admin.post(f"/v1/collections/{collection['id']}/items",
                              json={"course_ids": list(course_ids), "specialization_ids": list(specialization_ids)})
        assert response.status_code == 200, response.text
        collection = response.json()
    return collection


def make_learner(api, suite, name="Lee Learner"):
    email = f"{unique('learner')}@example.com"
    user = verified_signup(suite, api, email, name, "correct horse battery")
    learner = api.as_user(email, "correct horse battery")
    return learner, user["id"], email


def join(rpc, org_id, program, contract, user_id, email=None, name=None, invitation_id=None):
    return rpc.programs.join_program(org_id, program["id"], user_id, contract["id"],
                                     invitation_id or str(uuid.uuid4()), email=email, full_name=name)





def events_of(engine, event_type, **payload_match):
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT envelope FROM kit_outbox WHERE event_type = :t ORDER BY id"),
                            {"t": event_type}).scalars().all()
    return [r for r in rows if all(r["payload"].get(k) == v for k, v in payload_match.items())]


# ---------------------------------------------------------------- catalog


def test_catalog_search_by_name_slug_partner(api, make_org, loaded_catalog):
    _, admin, _ = make_org()
    found = admin.get("/v1/catalog/courses", params={"q": "python"}).json()["items"]
    assert found and all("python" in (c["name"] + c["slug"] + c["partner"]).lower() for c in found)
    by_partner = admin.get("/v1/catalog/courses", params={"q": "deeplearning.ai", "limit": 200}).json()["items"]
    assert AI_FOR_EVERYONE in {c["id"] for c in by_partner}
    course = next(c for c in by_partner if c["id"] == AI_FOR_EVERYONE)
    assert course["slug"] == "ai-for-everyone" and course["lesson_count"] > 0 and course["item_count"] > 0
    specs = admin.get("/v1/catalog/specializations", params={"q": "deep learning"}).json()["items"]
    assert specs and len(specs[0]["course_ids"]) == 5

    # pages follow each other without overlap
    first = admin.get("/v1/catalog/courses", params={"limit": 30}).json()
    second = admin.get("/v1/catalog/courses", params={"limit": 30, "cursor": first["next_cursor"]}).json()
    assert first["next_cursor"] and not {c["id"] for c in first["items"]} & {c["id"] for c in second["items"]}

    assert api.get("/v1/catalog/courses").status_code == 401
    assert admin.get("/v1/catalog/courses", params={"limit": 100000}).status_code == 400
    bad_cursor = admin.get("/v1/catalog/courses", params={"cursor": "not-a-cursor"})
    assert bad_cursor.status_code == 400 and bad_cursor.json()["error"]["details"]["cursor"]


# ---------------------------------------------------------------- contracts


def test_contracts_create_list_change_and_refusals(suite, api, make_org, programs_db):
    org_id, admin, _ = make_org()
    contract = make_contract(admin, org_id, licenses=3)
    assert contract["licenses_used"] == 0 and contract["licenses_free"] == 3 and contract["active"]
    listed = admin.get(f"/v1/orgs/{org_id}/contracts").json()["items"]
    assert [c["id"] for c in listed] == [contract["id"]]
    assert events_of(programs_db, "programs.contract.created.v1", contract_id=contract["id"])

    changed = admin.patch(f"/v1/contracts/{contract['id']}", json={"license_count": 5, "name": "Year 1 Contract"})
    assert changed.status_code == 200 and changed.json()["license_count"] == 5
    assert events_of(programs_db, "programs.contract.updated.v1", contract_id=contract["id"])

    body = {"name": "X", "license_count": 1, "starts_on": "2026-01-01", "ends_on": "2026-12-31"}
    negative = admin.post(f"/v1/orgs/{org_id}/contracts", json={**body, "license_count": -1})
    assert negative.status_code == 400 and "license_count" in negative.json()["error"]["details"]
    backwards = admin.post(f"/v1/orgs/{org_id}/contracts", json={**body, "ends_on": "2025-12-31"})
    assert backwards.status_code == 400 and "ends_on" in backwards.json()["error"]["details"]
    backwards_patch = admin.patch(f"/v1/contracts/{contract['id']}", json={"ends_on": "2000-01-01"})
    assert backwards_patch.status_code == 400
    duplicate = admin.post(f"/v1/orgs/{org_id}/contracts", json={**body, "name": "year 1 contract"})
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "DUPLICATE_NAME"
    assert admin.post(f"/v1/orgs/{org_id}/contracts", json={**body, "license_count": "many"}).status_code == 400
    assert admin.patch(f"/v1/contracts/{contract['id']}", json={}).status_code == 400

    # another organization's admin: 404 everywhere; a program admin: 403
    other_org, other_admin, _ = make_org()
    assert other_admin.get(f"/v1/contracts/{contract['id']}").status_code == 404
    assert other_admin.patch(f"/v1/contracts/{contract['id']}", json={"license_count": 9}).status_code == 404
    assert other_admin.get(f"/v1/orgs/{org_id}/contracts").status_code == 404
    assert other_admin.post(f"/v1/orgs/{org_id}/contracts", json=body).status_code == 404
    assert admin.get(f"/v1/contracts/{uuid.uuid4()}").status_code == 404
    assert admin.get("/v1/contracts/not-an-id").status_code == 404
    program = make_program(admin, org_id, [contract["id"]])
    padmin = add_program_admin(suite, api, org_id, [program["id"]])
    assert padmin.get(f"/v1/contracts/{contract['id']}").status_code == 403
    assert padmin.get(f"/v1/orgs/{org_id}/contracts").status_code == 403


def test_license_count_cannot_go_below_licenses_in_use(api, suite, make_org, rpc):
    org_id, admin, _ = make_org()
    contract = make_contract(admin, org_id, licenses=2)
    program = make_program(admin, org_id, [contract["id"]])
    for _ in range(2):
        _, user_id, email = make_learner(api, suite)
        join(rpc, org_id, program, contract, user_id, email, "Someone")
    shown = admin.get(f"/v1/contracts/{contract['id']}").json()
    assert shown["licenses_used"] == 2 and shown["licenses_free"] == 0
    refused = admin.patch(f"/v1/contracts/{contract['id']}", json={"license_count": 1})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "LICENSES_IN_USE"
    assert admin.patch(f"/v1/contracts/{contract['id']}", json={"license_count": 2}).status_code == 200


# ---------------------------------------------------------------- programs


def test_program_create_read_update_list_and_scope(suite, api, make_org, programs_db):
    org_id, admin, _ = make_org()
    contract = make_contract(admin, org_id)
    second_contract = make_contract(admin, org_id)
    program = make_program(admin, org_id, [contract["id"]], tagline="Learn data", enrollment_limit=3)
    assert re.fullmatch(r"program-[0-9a-z]{6}", program["slug"])
    assert program["join_url"].endswith(f"/programs/{program['slug']}")
    assert program["contract_ids"] == [contract["id"]] and program["enrollment_limit"] == 3
    created = events_of(programs_db, "programs.program.created.v1", program_id=program["id"])
    assert created and created[0]["payload"]["slug"] == program["slug"] and created[0]["org_id"] == org_id

    other = make_program(admin, org_id, [second_contract["id"]])
    changed = admin.patch(f"/v1/programs/{program['id']}",
                          json={"name": "Data Academy", "contract_ids": [contract["id"], second_contract["id"]],
                                "enrollment_limit": None})
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Data Academy" and changed.json()["enrollment_limit"] is None
    assert sorted(changed.json()["contract_ids"]) == sorted([contract["id"], second_contract["id"]])
    update_event = events_of(programs_db, "programs.program.updated.v1", program_id=program["id"])[-1]
    assert set(update_event["payload"]["changed"]) == {"name", "contract_ids", "enrollment_limit"}

    # refusals
    assert admin.post(f"/v1/orgs/{org_id}/programs", json={"name": "Data Academy",
                                                           "contract_ids": [contract["id"]]}).status_code == 409
    unknown = admin.post(f"/v1/orgs/{org_id}/programs", json={"name": "P", "contract_ids": [str(uuid.uuid4())]})
    assert unknown.status_code == 400 and "contract_ids" in unknown.json()["error"]["details"]
    assert admin.post(f"/v1/orgs/{org_id}/programs", json={"name": "P", "contract_ids": []}).status_code == 400
    assert admin.post(f"/v1/orgs/{org_id}/programs", json={"name": "", "contract_ids": [contract["id"]]}
                      ).status_code == 400
    assert admin.post(f"/v1/orgs/{org_id}/programs", json={"name": "P", "contract_ids": [contract["id"]],
                                                           "enrollment_limit": -2}).status_code == 400
    assert admin.patch(f"/v1/programs/{program['id']}", json={"name": other["name"]}).status_code == 409

    # listing: org admin everything, program admin only theirs
    listed = admin.get(f"/v1/orgs/{org_id}/programs").json()["items"]
    assert {p["id"] for p in listed} == {program["id"], other["id"]}
    padmin = add_program_admin(suite, api, org_id, [program["id"]])
    assert [p["id"] for p in padmin.get(f"/v1/orgs/{org_id}/programs").json()["items"]] == [program["id"]]
    assert padmin.get(f"/v1/programs/{program['id']}").status_code == 200
    assert padmin.patch(f"/v1/programs/{program['id']}", json={"tagline": "Theirs"}).status_code == 200
    assert padmin.patch(f"/v1/programs/{program['id']}", json={"contract_ids": [contract["id"]]}).status_code == 403
    assert padmin.post(f"/v1/orgs/{org_id}/programs", json={"name": "Mine", "contract_ids": [contract["id"]]}
                       ).status_code == 403

    # another program's id (program admin) and another organization's (org admin): 404
    other_org, other_admin, _ = make_org()
    for caller in (padmin, other_admin):
        assert caller.get(f"/v1/programs/{other['id'] if caller is padmin else program['id']}").status_code == 404
    assert padmin.patch(f"/v1/programs/{other['id']}", json={"tagline": "x"}).status_code == 404
    assert padmin.delete(f"/v1/programs/{other['id']}?confirm=true").status_code == 404
    assert other_admin.patch(f"/v1/programs/{program['id']}", json={"tagline": "x"}).status_code == 404
    assert other_admin.delete(f"/v1/programs/{program['id']}?confirm=true").status_code == 404
    assert other_admin.get(f"/v1/orgs/{org_id}/programs").status_code == 404
    assert other_admin.post(f"/v1/orgs/{other_org}/programs", json={"name": "Steal", "contract_ids": [contract["id"]]}
                            ).status_code == 400
    assert admin.get("/v1/programs/nope").status_code == 404


# ---------------------------------------------------------------- curriculum


def test_curriculum_collections_items_order_and_scope(suite, api, make_org, loaded_catalog, programs_db):
    org_id, admin, _ = make_org()
    contract = make_contract(admin, org_id)
    program = make_program(admin, org_id, [contract["id"]])
    courses = loaded_catalog["courses"]
    spec_id, _ = loaded_catalog["specs"]["deep-learning"]
    first = make_collection(admin, program["id"], [AI_FOR_EVERYONE, courses["machine-learning"]], [spec_id],
                            name="Start here")
    second = make_collection(admin, program["id"], [AI_FOR_EVERYONE], name="Also here")  # one course, two collections
    assert [i["kind"] for i in first["items"]] == ["COURSE", "COURSE", "SPECIALIZATION"]
    assert first["items"][0]["name"] == "AI For Everyone" and first["items"][0]["partner"] == "deeplearning.ai"
    changed = events_of(programs_db, "programs.curriculum.changed.v1", program_id=program["id"])[-1]["payload"]
    assert changed["course_ids"] == sorted([AI_FOR_EVERYONE, courses["machine-learning"]])
    assert changed["specialization_ids"] == [spec_id]

    # adding the same item again is a no-op; unknown ids are refused
    again = admin.post(f"/v1/collections/{first['id']}/items", json={"course_ids": [AI_FOR_EVERYONE]})
    assert len(again.json()["items"]) == 3
    unknown = admin.post(f"/v1/collections/{first['id']}/items", json={"course_ids": ["no-such-course"]})
    assert unknown.status_code == 400 and "course_ids" in unknown.json()["error"]["details"]
    assert admin.post(f"/v1/collections/{first['id']}/items", json={}).status_code == 400
    assert admin.post(f"/v1/programs/{program['id']}/collections", json={"name": "start HERE"}).status_code == 409

    # reorder items and collections
    item_ids = [i["id"] for i in first["items"]]
    reordered = admin.patch(f"/v1/collections/{first['id']}", json={"item_ids": list(reversed(item_ids))})
    assert [i["id"] for i in reordered.json()["items"]] == list(reversed(item_ids))
    assert admin.patch(f"/v1/collections/{first['id']}", json={"item_ids": item_ids[:1]}).status_code == 400
    moved = admin.patch(f"/v1/collections/{second['id']}", json={"position": 1, "description": "first now"})
    assert moved.status_code == 200 and moved.json()["position"] == 1
    listed = admin.get(f"/v1/programs/{program['id']}/collections").json()
    assert [c["id"] for c in listed] == [second["id"], first["id"]]

    # remove an item, delete a collection
    assert admin.delete(f"/v1/collections/{first['id']}/items/{item_ids[0]}").status_code == 204
    assert admin.delete(f"/v1/collections/{first['id']}/items/{item_ids[0]}").status_code == 404
    assert admin.delete(f"/v1/collections/{second['id']}").status_code == 204
    listed = admin.get(f"/v1/programs/{program['id']}/collections").json()
    assert [c["id"] for c in listed] == [first["id"]] and len(listed[0]["items"]) == 2

    # another program's admin and another organization's admin: 404 on every curriculum path
    other_program = make_program(admin, org_id, [contract["id"]])
    padmin = add_program_admin(suite, api, org_id, [other_program["id"]])
    _, other_admin, _ = make_org()
    for caller in (padmin, other_admin):
        assert caller.get(f"/v1/programs/{program['id']}/collections").status_code == 404
        assert caller.post(f"/v1/programs/{program['id']}/collections", json={"name": "x"}).status_code == 404
        assert caller.patch(f"/v1/collections/{first['id']}", json={"name": "x"}).status_code == 404
        assert caller.post(f"/v1/collections/{first['id']}/items", json={"course_ids": [AI_FOR_EVERYONE]}
                           ).status_code == 404
        assert caller.delete(f"/v1/collections/{first['id']}/items/{item_ids[1]}").status_code == 404
        assert caller.delete(f"/v1/collections/{first['id']}").status_code == 404
    assert padmin.post(f"/v1/programs/{other_program['id']}/collections", json={"name": "mine"}).status_code == 201


# ---------------------------------------------------------------- memberships


def test_join_rules_idempotency_and_members_list(suite, api, make_org, rpc, programs_db):
    org_id, admin, _ = make_org()
    contract = make_contract(admin, org_id, licenses=10)
    program = make_program(admin, org_id, [contract["id"]])
    _, user_id, email = make_learner(api, suite, "Zoe Zimmer")
    invitation_id = str(uuid.uuid4())
    member = join(rpc, org_id, program, contract, user_id, email, "Zoe Zimmer", invitation_id)
    assert member["state"] == "MEMBER" and member["contract_id"] == contract["id"]
    # the same invitation again: the same membership, no second license
    assert join(rpc, org_id, program, contract, user_id, invitation_id=invitation_id)["membership_id"] == \
        member["membership_id"]
    assert admin.get(f"/v1/contracts/{contract['id']}").json()["licenses_used"] == 1
    with pytest.raises(AppError) as already:
        join(rpc, org_id, program, contract, user_id)
    assert already.value.code == "ALREADY_MEMBER"
    joined = events_of(programs_db, "programs.member.joined.v1", program_id=program["id"])
    assert len(joined) == 1 and joined[0]["payload"]["email"] == email.lower()
    assert joined[0]["payload"]["invitation_id"] == invitation_id

    # a contract outside its dates, a contract of another program, another org
    expired = make_contract(admin, org_id, starts_on="2020-01-01", ends_on="2020-12-31")
    old_program = make_program(admin, org_id, [expired["id"]])
    with pytest.raises(AppError) as inactive:
        join(rpc, org_id, old_program, expired, user_id)
    assert inactive.value.code == "CONTRACT_NOT_ACTIVE"
    with pytest.raises(AppError) as foreign:
        join(rpc, org_id, old_program, contract, user_id)
    assert foreign.value.code == "INVALID_INPUT"
    other_org, _, _ = make_org()
    with pytest.raises(AppError) as other:
        join(rpc, other_org, program, contract, user_id)
    assert other.value.code == "NOT_FOUND"
    assert rpc.programs.membership_state(program["id"], user_id) == "MEMBER"
    assert rpc.programs.membership_state(program["id"], str(uuid.uuid4())) is None
    assert rpc.programs.person_in_programs(org_id, user_id, [program["id"]]) is True
    assert rpc.programs.person_in_programs(other_org, user_id, [program["id"]]) is False
    assert rpc.programs.missing_programs(org_id, [program["id"], "x"]) == ["x"]
    assert rpc.programs.missing_programs(other_org, [program["id"]]) == [program["id"]]
    assert rpc.programs.find_program_by_slug(program["slug"])["id"] == program["id"]
    assert rpc.programs.get_contract(org_id, contract["id"])["licenses_used"] == 1

    # a profile known to identity names the member even when the caller does not
    _, named_id, named_email = make_learner(api, suite, "Anna Able")
    rpc.identity.ensure_person(org_id, {"email": named_email, "full_name": "Anna Able"})
    assert join(rpc, org_id, program, contract, named_id)["full_name"] == "Anna Able"

    # list, search, state filter, pagination
    for n in range(5):
        _, uid, mail = make_learner(api, suite, f"Member {n:02d}")
        join(rpc, org_id, program, contract, uid, mail, f"Member {n:02d}")
    members = admin.get(f"/v1/programs/{program['id']}/members").json()["items"]
    assert [m["full_name"] for m in members] == ["Anna Able"] + [f"Member {n:02d}" for n in range(5)] + ["Zoe Zimmer"]
    found = admin.get(f"/v1/programs/{program['id']}/members", params={"q": "zimm"}).json()["items"]
    assert [m["user_id"] for m in found] == [user_id]
    by_email = admin.get(f"/v1/programs/{program['id']}/members", params={"q": email.upper()[:12]}).json()["items"]
    assert [m["user_id"] for m in by_email] == [user_id]
    pages, cursor = [], None
    while True:
        page = admin.get(f"/v1/programs/{program['id']}/members",
                         params={"limit": 3, **({"cursor": cursor} if cursor else {})}).json()
        pages.append([m["full_name"] for m in page["items"]])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [n for p in pages for n in p] == [m["full_name"] for m in members] and len(pages) == 3
    assert admin.get(f"/v1/programs/{program['id']}/members", params={"state": "BOGUS"}).status_code == 400
    assert admin.get(f"/v1/programs/{program['id']}/members", params={"limit": 5000}).status_code == 400

    # removing a member frees the license and publishes the event
    assert admin.delete(f"/v1/programs/{program['id']}/members/{user_id}").status_code == 204
    removed = admin.get(f"/v1/programs/{program['id']}/members", params={"state": "DELETED_MEMBER"}).json()["items"]
    assert [m["user_id"] for m in removed] == [user_id] and removed[0]["removed_at"]
    assert admin.get(f"/v1/contracts/{contract['id']}").json()["licenses_used"] == 6
    event = events_of(programs_db, "programs.member.removed.v1", user_id=user_id)[0]["payload"]
    assert event["reason"] == "ADMIN_REMOVED" and event["email"] == email.lower()
    assert admin.delete(f"/v1/programs/{program['id']}/members/{uuid.uuid4()}").status_code == 404
    # a removed member may join again with a new invitation
    assert join(rpc, org_id, program, contract, user_id)["state"] == "MEMBER"


def test_members_endpoints_scoped(suite, api, make_org, rpc):
    org_id, admin, _ = make_org()
    contract = make_contract(admin, org_id)
    program = make_program(admin, org_id, [contract["id"]])
    other_program = make_program(admin, org_id, [contract["id"]])
    _, user_id, email = make_learner(api, suite)
    join(rpc, org_id, program, contract, user_id, email, "Mia Member")
    padmin = add_program_admin(suite, api, org_id, [other_program["id"]])
    _, other_admin, _ = make_org()
    learner_api, _, _ = make_learner(api, suite)
    for caller in (padmin, other_admin, learner_api):
        assert caller.get(f"/v1/programs/{program['id']}/members").status_code == 404
        assert caller.delete(f"/v1/programs/{program['id']}/members/{user_id}").status_code == 404
    own = add_program_admin(suite, api, org_id, [program["id"]])
    assert [m["user_id"] for m in own.get(f"/v1/programs/{program['id']}/members").json()["items"]] == [user_id]
    # people of their programs only
    assert padmin.get(f"/v1/orgs/{org_id}/people/{user_id}").status_code == 404


def test_invitation_events_keep_invited_rows(suite, api, make_org, rpc):
    org_id, admin, _ = make_org()
    contract = make_contract(admin, org_id)
    program = make_program(admin, org_id, [contract["id"]])
    invitation_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
    created = {"invitation_id": invitation_id, "org_id": org_id, "program_id": program["id"],
               "program_name": program["name"], "contract_id": contract["id"], "user_id": user_id,
               "email": "Ivy.Invitee@Example.com", "full_name": "Ivy Invitee", "external_id": None,
               "send_email": False, "accept_url": None, "custom_message": None,
               "expires_at": "2030-01-01T00:00:00+00:00", "invited_by": None}
    publish_event(suite, "invitations", "invitations.invitation.created.v1", created, org_id)

    def invited():
        return admin.get(f"/v1/programs/{program['id']}/members", params={"state": "INVITED"}).json()["items"]

    rows = wait_for(invited)
    assert rows[0]["user_id"] == user_id and rows[0]["email"] == "ivy.invitee@example.com"
    assert rpc.programs.membership_state(program["id"], user_id) == "INVITED"
    assert rpc.programs.person_in_programs(org_id, user_id, [program["id"]]) is True
    publish_event(suite, "invitations", "invitations.invitation.revoked.v1",
                  {"invitation_id": invitation_id, "org_id": org_id, "program_id": program["id"],
                   "user_id": user_id, "email": "ivy.invitee@example.com", "reason": "ADMIN"}, org_id)
    wait_for(lambda: rpc.programs.membership_state(program["id"], user_id) is None)

    # invited again, then accepted: the join takes the invitee's name from the invitation
    publish_event(suite, "invitations", "invitations.invitation.created.v1",
                  {**created, "invitation_id": str(uuid.uuid4())}, org_id)
    wait_for(invited)
    member = join(rpc, org_id, program, contract, user_id)
    assert member["state"] == "MEMBER" and member["full_name"] == "Ivy Invitee"
    # an invitation created for a member changes nothing
    publish_event(suite, "invitations", "invitations.invitation.created.v1",
                  {**created, "invitation_id": str(uuid.uuid4())}, org_id)
    eventlet.sleep(1)
    assert rpc.programs.membership_state(program["id"], user_id) == "MEMBER"

    # an import's batch event: new people become INVITED, the member stays a member
    others = [str(uuid.uuid4()), str(uuid.uuid4())]
    batch = {key: created[key] for key in ("org_id", "program_id", "program_name", "contract_id", "send_email",
                                           "custom_message", "invited_by")}
    batch["import_id"] = str(uuid.uuid4())
    batch["invitations"] = [
        {"invitation_id": str(uuid.uuid4()), "user_id": uid, "email": email, "full_name": name, "external_id": None,
         "accept_url": None, "expires_at": "2030-01-01T00:00:00+00:00"}
        for uid, email, name in ((user_id, "ivy.invitee@example.com", "Ivy Invitee"),
                                 (others[0], "Bo.Batch@Example.com", "Bo Batch"),
                                 (others[1], "cy.batch@example.com", "Cy Batch"))]
    publish_event(suite, "invitations", "invitations.invitations.created.v1", batch, org_id)
    wait_for(lambda: all(rpc.programs.membership_state(program["id"], uid) == "INVITED" for uid in others))
    assert rpc.programs.membership_state(program["id"], user_id) == "MEMBER"
    names = {row["user_id"]: (row["email"], row["full_name"]) for row in invited()}
    assert names == {others[0]: ("bo.batch@example.com", "Bo Batch"), others[1]: ("cy.batch@example.com", "Cy Batch")}


# ---------------------------------------------------------------- enrollments and learners


def test_enrollments_rules_and_learner_endpoints(suite, api, make_org, rpc, loaded_catalog, programs_db):
    org_id, admin, _ = make_org()
    contract = make_contract(admin, org_id)
    program = make_program(admin, org_id, [contract["id"]], enrollment_limit=3)
    courses = loaded_catalog["courses"]
    spec_id, spec_courses = loaded_catalog["specs"]["data-science"]
    collection = make_collection(admin, program["id"], [AI_FOR_EVERYONE, courses["machine-learning"]], [spec_id])
    learner, user_id, email = make_learner(api, suite, "Eve Enroller")

    body = {"program_id": program["id"], "course_id": AI_FOR_EVERYONE, "collection_id": collection["id"]}
    # never invited: the program does not exist for them; invited but not joined: not a member
    assert learner.post("/v1/enrollments", json=body).status_code == 404
    publish_event(suite, "invitations", "invitations.invitation.created.v1", {
        "invitation_id": str(uuid.uuid4()), "org_id": org_id, "program_id": program["id"],
        "program_name": program["name"], "contract_id": contract["id"], "user_id": user_id, "email": email,
        "full_name": "Eve Enroller", "external_id": None, "send_email": False, "accept_url": None,
        "custom_message": None, "expires_at": "2030-01-01T00:00:00+00:00", "invited_by": None}, org_id)
    wait_for(lambda: rpc.programs.membership_state(program["id"], user_id) == "INVITED")
    refused = learner.post("/v1/enrollments", json=body)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "NOT_A_MEMBER"
    join(rpc, org_id, program, contract, user_id, email, "Eve Enroller")

    first = learner.post("/v1/enrollments", json=body)
    assert first.status_code == 201, first.text
    assert first.json()["collection_id"] == collection["id"] and first.json()["item_slug"] == "ai-for-everyone"
    again = learner.post("/v1/enrollments", json=body)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    event = events_of(programs_db, "programs.enrollment.created.v1", user_id=user_id)
    assert len(event) == 1 and event[0]["payload"]["collection_id"] == collection["id"]
    assert event[0]["payload"]["email"] == email.lower() and event[0]["payload"]["kind"] == "COURSE"

    # a single course of a specialization in the curriculum; a specialization; found by search (no collection)
    single = learner.post("/v1/enrollments", json={"program_id": program["id"], "course_id": spec_courses[2]})
    assert single.status_code == 201 and single.json()["collection_id"] is None
    spec = learner.post("/v1/enrollments", json={"program_id": program["id"], "specialization_id": spec_id})
    assert spec.status_code == 201 and spec.json()["kind"] == "SPECIALIZATION"
    limit = learner.post("/v1/enrollments",
                         json={"program_id": program["id"], "course_id": courses["machine-learning"]})
    assert limit.status_code == 422 and limit.json()["error"]["code"] == "ENROLLMENT_LIMIT_REACHED"

    # bad input
    not_offered = learner.post("/v1/enrollments", json={"program_id": program["id"],
                                                        "course_id": courses["financial-markets"]})
    assert not_offered.status_code == 422 and not_offered.json()["error"]["code"] == "NOT_IN_CURRICULUM"
    assert learner.post("/v1/enrollments", json={"program_id": program["id"]}).status_code == 400
    assert learner.post("/v1/enrollments", json={"program_id": program["id"], "course_id": AI_FOR_EVERYONE,
                                                 "specialization_id": spec_id}).status_code == 400
    assert learner.post("/v1/enrollments", json={"program_id": str(uuid.uuid4()),
                                                 "course_id": AI_FOR_EVERYONE}).status_code == 404
    other_program = make_program(admin, org_id, [contract["id"]])
    other_collection = make_collection(admin, other_program["id"], [AI_FOR_EVERYONE])
    wrong_source = learner.post("/v1/enrollments", json={**body, "collection_id": other_collection["id"]})
    assert wrong_source.status_code == 400
    assert learner.post("/v1/enrollments", data="nope", headers={"Content-Type": "application/json"}
                        ).status_code == 400

    # learner endpoints show only their own
    mine = learner.get("/v1/me/programs").json()["items"]
    assert [(p["id"], p["state"], p["enrollment_count"]) for p in mine] == [(program["id"], "MEMBER", 3)]
    enrollments = learner.get("/v1/me/enrollments").json()["items"]
    assert len(enrollments) == 3 and {e["user_id"] for e in enrollments} == {user_id}
    stranger, _, _ = make_learner(api, suite)
    assert stranger.get("/v1/me/programs").json()["items"] == []
    assert stranger.get("/v1/me/enrollments").json()["items"] == []
    assert stranger.post("/v1/enrollments", json=body).status_code == 404
    _, other_admin, _ = make_org()  # another organization's admin is a stranger to this program too
    assert other_admin.post("/v1/enrollments", json=body).status_code == 404

    # removal downgrades course access (enrollments kept, marked) and publishes one event each
    assert admin.delete(f"/v1/programs/{program['id']}/members/{user_id}").status_code == 204
    enrollments = learner.get("/v1/me/enrollments").json()["items"]
    assert all(e["downgraded_at"] for e in enrollments)
    assert len(events_of(programs_db, "programs.enrollment.downgraded.v1", user_id=user_id)) == 3
    assert learner.get("/v1/me/programs").json()["items"] == []
    assert learner.post("/v1/enrollments", json=body).json()["error"]["code"] == "NOT_A_MEMBER"


def test_remove_program_needs_confirmation_and_removes_every_member(api, suite, make_org, rpc, loaded_catalog,
                                                                    programs_db):
    org_id, admin, _ = make_org()
    contract = make_contract(admin, org_id, licenses=10)
    program = make_program(admin, org_id, [contract["id"]])
    make_collection(admin, program["id"], [AI_FOR_EVERYONE])
    users = []
    for n in range(3):
        learner, user_id, email = make_learner(api, suite)
        join(rpc, org_id, program, contract, user_id, email, f"Leaver {n}")
        users.append(user_id)
    assert learner.post("/v1/enrollments", json={"program_id": program["id"],
                                                 "course_id": AI_FOR_EVERYONE}).status_code == 201

    refused = admin.delete(f"/v1/programs/{program['id']}")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "CONFIRMATION_REQUIRED"
    assert admin.delete(f"/v1/programs/{program['id']}?confirm=false").status_code == 422
    removed = admin.delete(f"/v1/programs/{program['id']}?confirm=true")
    assert removed.status_code == 200 and removed.json()["removed_members"] == 3
    assert admin.get(f"/v1/programs/{program['id']}").status_code == 404
    assert admin.get(f"/v1/contracts/{contract['id']}").json()["licenses_used"] == 0
    removals = events_of(programs_db, "programs.member.removed.v1", program_id=program["id"])
    assert sorted(e["payload"]["user_id"] for e in removals) == sorted(users)
    assert {e["payload"]["reason"] for e in removals} == {"PROGRAM_REMOVED"}
    assert len(events_of(programs_db, "programs.program.removed.v1", program_id=program["id"])) == 1
    assert len(events_of(programs_db, "programs.enrollment.downgraded.v1", program_id=program["id"])) == 1
    assert rpc.programs.membership_state(program["id"], users[0]) == "DELETED_MEMBER"
    assert admin.delete(f"/v1/programs/{program['id']}?confirm=true").status_code == 404
    assert learner.get("/v1/me/programs").json()["items"] == []


# ---------------------------------------------------------------- concurrency


def test_fifty_concurrent_joins_take_exactly_ten_licenses(api, make_org, rpc):
    org_id, admin, _ = make_org()
    contract = make_contract(admin, org_id, licenses=10)
    program = make_program(admin, org_id, [contract["id"]])
    calls = [rpc.programs.join_program.call_async(org_id, program["id"], str(uuid.uuid4()), contract["id"],
                                                  str(uuid.uuid4()), email=f"c{n}@example.com", full_name=f"C {n}")
             for n in range(50)]
    joined, refused = 0, []
    for call in calls:
        try:
            call.result()
            joined += 1
        except AppError as exc:
            refused.append(exc.code)
    assert joined == 10 and refused == ["LICENSE_LIMIT_REACHED"] * 40
    shown = admin.get(f"/v1/contracts/{contract['id']}").json()
    assert shown["licenses_used"] == 10 and shown["licenses_free"] == 0
    members = admin.get(f"/v1/programs/{program['id']}/members", params={"state": "MEMBER", "limit": 200}).json()
    assert len(members["items"]) == 10


def test_parallel_enrollments_cannot_pass_the_limit(api, suite, make_org, rpc, loaded_catalog):
    org_id, admin, _ = make_org()
    contract = make_contract(admin, org_id)
    program = make_program(admin, org_id, [contract["id"]], enrollment_limit=3)
    course_ids = sorted(loaded_catalog["courses"].values())[:12]
    make_collection(admin, program["id"], course_ids)
    learner, user_id, email = make_learner(api, suite)
    join(rpc, org_id, program, contract, user_id, email, "Pam Parallel")
    pool = eventlet.GreenPool(12)
    statuses = list(pool.imap(lambda cid: Api(learner.base_url, learner.token).post("/v1/enrollments", json={
        "program_id": program["id"], "course_id": cid}).status_code, course_ids))
    assert sorted(statuses) == [201] * 3 + [422] * 9
    assert len(learner.get("/v1/me/enrollments").json()["items"]) == 3


def test_a_member_reads_the_curriculum_of_their_program_only(suite, api, make_org, rpc, loaded_catalog):
    """GET /v1/me/programs/{id}/curriculum (the console's learner page): members only, 404 for others."""
    org_id, admin, _ = make_org()
    contract = make_contract(admin, org_id)
    program = make_program(admin, org_id, [contract["id"]])
    collection = make_collection(admin, program["id"], [AI_FOR_EVERYONE], [])
    learner, user_id, email = make_learner(api, suite, "Cy Curriculum")
    path = f"/v1/me/programs/{program['id']}/curriculum"
    assert learner.get(path).status_code == 404  # not a member
    join(rpc, org_id, program, contract, user_id, email, "Cy Curriculum")
    answer = learner.get(path)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["program"]["id"] == program["id"] and body["organization"]["name"]
    assert [c["id"] for c in body["collections"]] == [collection["id"]]
    assert [i["course_id"] for i in body["collections"][0]["items"]] == [AI_FOR_EVERYONE]
    assert admin.get(path).status_code == 404  # an admin who is not a member
    assert learner.get(f"/v1/me/programs/{uuid.uuid4()}/curriculum").status_code == 404
