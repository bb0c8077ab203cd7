"""GET /v1/orgs/{org_id}/people (docs/api.md "People"): the organization's people, a program member or
not, newest first, keyset-paginated (servicekit.pagination's cursor), searched by email or name, filtered by
business unit and verified address; org admins (and API tokens of scope people:read) only; never another
organization's people."""
import random
import string

import pytest

from tests.e2e.conftest import Api, create_org, unique
from tests.e2e.helpers import add_program_admin, program_with_contract
from tests.e2e.test_programs_tenancy import invited_person

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def org(suite, api):
    """An organization with six people in no program (two business units, some verified) and its admin."""
    from servicekit.standalone import unit_of_work
    from services.identity.commands import accounts, profiles

    org_id, admin, admin_email = create_org(suite, api)
    tag = unique("ppl")
    people = [
        {"email": f"{tag}-zoe@acme.example", "full_name": "Zoë Quist", "business_unit": "Sales"},
        {"email": f"{tag}-max@acme.example", "full_name": "Max Power", "business_unit": "Sales"},
        {"email": f"{tag}-ida@acme.example", "full_name": "Ida 100% Sure", "business_unit": "R&D"},
        {"email": f"{tag}-bo@acme.example", "full_name": "Bo_Underscore", "business_unit": "R&D"},
        {"email": f"{tag}-lea@acme.example", "full_name": "Léa Unverified", "business_unit": None},
    ]
    with unit_of_work("identity", suite.database_url("identity")) as uow:
        for person in people:
            fields = {"business_unit": person["business_unit"]} if person["business_unit"] else {}
            profiles.ensure_person(uow, org_id, person["email"], person["full_name"], fields)
            uow.commit()
        for person in people[:4]:  # verified accounts; Léa's address is not
            accounts.ensure_verified_person(uow, org_id, person["email"], person["full_name"], PASSWORD)
            uow.commit()
    return {"org_id": org_id, "admin": admin, "admin_email": admin_email, "tag": tag, "people": people}


def listed(admin: Api, org_id: str, **params) -> list[dict]:
    """Every page of the list (limit 2): the items in order."""
    items, cursor = [], None
    for _ in range(50):
        page = admin.get(f"/v1/orgs/{org_id}/people", params={**params, "limit": 2, **({"cursor": cursor}
                                                                                         if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= 2
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items
    raise AssertionError("the list never ended")


def test_pages_are_newest_first_and_cover_everyone_once(org):
    items = listed(org["admin"], org["org_id"])
    emails = [item["email"] for item in items]
    assert len(emails) == len(set(emails)) == 6  # the five people and the admin, each once
    assert set(emails) == {p["email"] for p in org["people"]} | {org["admin_email"].lower()}
    joined = [item["joined_at"] for item in items]
    assert joined == sorted(joined, reverse=True)
    zoe = next(item for item in items if item["email"] == org["people"][0]["email"])
    assert zoe["full_name"] == "Zoë Quist" and zoe["business_unit"] == "Sales" and zoe["email_verified"] is True
    assert zoe["org_id"] == org["org_id"] and zoe["user_id"] and "job_title" in zoe and "external_id" in zoe
    one = org["admin"].get(f"/v1/orgs/{org['org_id']}/people", params={"limit": 6}).json()
    assert one["next_cursor"] is None and [i["email"] for i in one["items"]] == emails


@pytest.mark.parametrize("params, expected", [
    ({"q": "ZOË"}, ["zoe"]),                       # a name, any case
    ({"q": "-max@"}, ["max"]),                     # part of the email
    ({"q": "100%"}, ["ida"]),                      # % is itself, not a wildcard
    ({"q": "o_u"}, ["bo"]),                        # _ is itself
    ({"q": "%"}, ["ida"]),
    ({"business_unit": "Sales"}, ["max", "zoe"]),
    ({"business_unit": "sales"}, []),              # exactly
    ({"verified": "false"}, ["lea"]),
    ({"verified": "true", "business_unit": "R&D"}, ["bo", "ida"]),
    ({"q": "acme.example", "business_unit": "R&D", "verified": "true"}, ["bo", "ida"]),
    ({"q": "nobody-has-this"}, []),
])
def test_search_and_filters(org, params, expected):
    items = listed(org["admin"], org["org_id"], **params)
    names = sorted(item["email"].split("@")[0].rsplit("-", 1)[1] for item in items
                   if item["email"].startswith(org["tag"]))
    assert names == sorted(expected), (params, items)
    if "q" not in params or params["q"] != "acme.example":
        assert all(item["email"].startswith(org["tag"]) for item in items), items  # the admin does not match


def test_tenancy(suite, api, org):
    org_id, admin = org["org_id"], org["admin"]
    path = f"/v1/orgs/{org_id}/people"
    other_id, other_admin, _ = create_org(suite, api)
    assert other_admin.get(path).status_code == 404                      # another organization's admin
    theirs = other_admin.get(f"/v1/orgs/{other_id}/people", params={"q": org["tag"]})
    assert theirs.status_code == 200 and theirs.json()["items"] == []   # never this organization's people
    program, contract = program_with_contract(admin, org_id)
    learner = invited_person(suite, api, admin, program, contract)
    refused = learner.get(path)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN", refused.text
    program_admin = add_program_admin(suite, api, org_id, [program["id"]])
    assert program_admin.get(path).status_code == 403
    assert Api(api.base_url).get(path).status_code == 401
    token = admin.post(f"/v1/orgs/{org_id}/api-tokens", json={"name": unique("hr"), "scopes": ["people:read"]})
    machine = Api(api.base_url, token.json()["token"])
    assert machine.get(path).status_code == 200
    assert machine.get(f"/v1/orgs/{other_id}/people").status_code == 404
    audit_only = admin.post(f"/v1/orgs/{org_id}/api-tokens", json={"name": unique("x"), "scopes": ["audit:read"]})
    scoped = Api(api.base_url, audit_only.json()["token"]).get(path)
    assert scoped.status_code == 403 and scoped.json()["error"]["code"] == "INSUFFICIENT_SCOPE"
    # the person who joined a program is listed too, as the people in none
    assert any(i["full_name"] == "Jo Joiner" for i in listed(admin, org_id, q="joiner"))


def cursor_of(*values) -> str:
    """A cursor in the platform's format (URL-safe base64 of the JSON list) with these values."""
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


NIL = "00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize("params", [
    {"cursor": "not-a-cursor"}, {"cursor": cursor_of(1, 2)},                 # not ours; a key of another length
    {"cursor": cursor_of(2, "2026-01-01T00:00:00+00:00", NIL)},              # another version
    {"cursor": cursor_of(1, "2026-01-01T00:00:00+00:00", "not-a-uuid")},
    {"cursor": cursor_of(1, "2026-01-01T00:00:00", NIL)},                    # a time without its offset
    {"cursor": cursor_of(1, "yesterday", NIL)}, {"cursor": cursor_of(1, 5, NIL)},
    {"limit": "0"}, {"limit": "201"}, {"limit": "x"}, {"verified": "maybe"}, {"q": "x" * 201},
    {"q": "a\x00b"},
])
def test_bad_input_is_400(org, params):
    answer = org["admin"].get(f"/v1/orgs/{org['org_id']}/people", params=params)
    assert answer.status_code == 400, (params, answer.text)
    assert answer.json()["error"]["code"] == "INVALID_INPUT"


def test_fuzzed_query_parameters_never_fail(org):
    rng = random.Random(7)
    alphabet = string.printable + "éß漢😀\u200b\ufeff%_\\'\""
    names = ["q", "business_unit", "verified", "limit", "cursor"]
    for _ in range(120):
        params = {rng.choice(names): "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
                  for _ in range(rng.randrange(1, 4))}
        answer = org["admin"].get(f"/v1/orgs/{org['org_id']}/people", params=params)
        assert answer.status_code in (200, 400), (params, answer.status_code, answer.text)
