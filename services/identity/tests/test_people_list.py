"""queries.list_people against a real database: each of the search's three steps (the walked window, the
trigram matches, the walk in order) answers what one plain filter of everyone would, page after page; other
organizations' people never appear. And throttle.count_refusal: one LOCKED_NOW per lock."""
import uuid

import pytest

from contracts.errors import AppError
from servicekit import config
from servicekit.standalone import unit_of_work
from services.identity import queries
from services.identity.commands import accounts, organizations, profiles, throttle


@pytest.fixture
def org(service_databases):
    """An organization with 30 people (names and business units varied, 1 in 3 verified), and another
    organization with people of the same names."""
    url = config.database_url("identity")
    people = []
    with unit_of_work("identity", url) as uow:
        org_id = organizations.create_org(uow, {"name": "Mine"}).id
        other_id = organizations.create_org(uow, {"name": "Theirs"}).id
        uow.commit()
        for n in range(30):
            name = ["Ann Grace", "Bob Stone", "Cy Grace"][n % 3] + f" {n:02}"
            email = f"p{n:02}-{uuid.uuid4().hex[:6]}@{'acme' if n % 2 else 'globex'}.example"
            profiles.ensure_person(uow, org_id, email, name, {"business_unit": f"BU{n % 4}"})
            profiles.ensure_person(uow, other_id, f"x{email}", name)
            if n % 3 == 0:
                accounts.ensure_verified_person(uow, org_id, email, name, "a password of some length")
            uow.commit()
            people.append({"email": email, "name": name, "bu": f"BU{n % 4}", "verified": n % 3 == 0})
    return {"url": url, "org_id": org_id, "people": people[::-1]}  # newest first


def every_page(url: str, org_id: str, **params) -> list[str]:
    emails, cursor = [], None
    while True:
        with unit_of_work("identity", url) as uow:
            page = queries.list_people(uow, org_id, limit=4, cursor=cursor, **params)
        emails += [item["email"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return emails


@pytest.mark.parametrize("walk, sparse", [(2000, 5000), (3, 5000), (3, 2)])  # step 1; 1 then 2; 1 then 3
@pytest.mark.parametrize("params", [
    {}, {"q": "grace"}, {"q": "GRACE 1"}, {"q": "acme"}, {"q": "bob stone 07"}, {"q": "nobody"},
    {"business_unit": "BU1"}, {"verified": True}, {"verified": False, "q": "grace"},
    {"q": "globex", "business_unit": "BU2", "verified": False},
])
def test_each_step_answers_the_plain_filter(org, monkeypatch, walk, sparse, params):
    monkeypatch.setattr(queries, "SEARCH_WALK", walk)
    monkeypatch.setattr(queries, "SEARCH_SPARSE", sparse)
    q = (params.get("q") or "").lower()
    expected = [p["email"] for p in org["people"]
                if (q in p["email"] or q in p["name"].lower())
                and params.get("business_unit", p["bu"]) == p["bu"]
                and params.get("verified", p["verified"]) == p["verified"]]
    assert every_page(org["url"], org["org_id"], **params) == expected


def test_count_refusal_locks_once_and_refuse_locked_refuses(service_databases):
    client, kind = "203.0.113.9", f"test-{uuid.uuid4().hex[:6]}"
    with unit_of_work("identity", config.database_url("identity")) as uow:
        session = uow.session
        assert throttle.count_refusal(session, kind, "127.0.0.1", 2, "no") is None  # loopback: not counted
        throttle.refuse_locked(session, kind, client, "locked")                    # nothing counted: passes
        assert throttle.count_refusal(session, kind, client, 3, "locked") == throttle.COUNTED
        assert throttle.count_refusal(session, kind, client, 3, "locked") == throttle.COUNTED
        assert throttle.count_refusal(session, kind, client, 3, "locked") == throttle.LOCKED_NOW
        for check in (lambda: throttle.count_refusal(session, kind, client, 3, "locked"),
                      lambda: throttle.refuse_locked(session, kind, client, "locked")):
            with pytest.raises(AppError) as refused:
                check()
            assert refused.value.code == "TOO_MANY_REQUESTS"
            assert 0 < refused.value.details["retry_after_seconds"] <= 15 * 60
        throttle.refuse_locked(session, kind, "198.51.100.1", "locked")  # another client passes
