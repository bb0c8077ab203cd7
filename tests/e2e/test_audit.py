"""The audit log end to end: the gateway names the caller (person or API
token, client address, request id) in every event an admin action causes,
the audit service records it, and GET /v1/orgs/{org_id}/audit shows it to
the right people only (docs/audit.md)."""
import csv
import io
import subprocess
import sys
import uuid

import kombu

from contracts.envelope import make_envelope
from contracts.programs import PROGRAM_CREATED
from tests.e2e.conftest import Api, unique
from tests.e2e.helpers import add_program_admin, program_with_contract
from tests.e2e.test_programs_tenancy import invited_person
from tests.support.waiting import wait_for


def entries(admin: Api, org_id: str, **params) -> list[dict]:
    response = admin.get(f"/v1/orgs/{org_id}/audit", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def entry_for(admin: Api, org_id: str, action: str, target: str | None = None, timeout: float = 30) -> dict:
    def found():
        params = {"action": action}
        if target:
            params["target"] = target
        return next(iter(entries(admin, org_id, **params)), None)
    return wait_for(found, timeout=timeout)


def me(api: Api) -> dict:
    return api.get("/v1/me").json()


def test_an_admin_action_is_recorded_with_who_where_and_the_request(suite, api, make_org):
    org_id, admin, admin_email = make_org()
    program, _ = program_with_contract(admin, org_id)
    request_id = f"audit-{uuid.uuid4().hex[:12]}"
    renamed = admin.patch(f"/v1/programs/{program['id']}", json={"name": "Renamed Academy"},
                          headers={"X-Request-Id": request_id})
    assert renamed.status_code == 200, renamed.text
    entry = entry_for(admin, org_id, "program.updated", program["id"])
    assert entry["actor"] == {"kind": "person", "id": me(admin)["id"], "label": admin_email}
    assert entry["request_id"] == request_id
    assert entry["client_address"] == "127.0.0.1"
    assert entry["changes"] == {"name": {"before": program["name"], "after": "Renamed Academy"}}
    assert entry["target"]["type"] == "program" and entry["program_id"] == program["id"]
    assert entry["org_id"] == org_id and len(entry["hash"]) == 64


def test_an_api_token_is_the_actor_of_what_it_does(suite, api, make_org):
    org_id, admin, _ = make_org()
    created = admin.post(f"/v1/orgs/{org_id}/api-tokens", json={"name": unique("siem"), "scopes": ["audit:read"]})
    assert created.status_code == 201, created.text
    machine = Api(api.base_url, created.json()["token"])
    program_with_contract(admin, org_id)
    listed = wait_for(lambda: entries(machine, org_id, action="program.created"))
    assert listed[0]["actor"]["kind"] == "person"
    other_org, _, _ = make_org()
    assert machine.get(f"/v1/orgs/{other_org}/audit").status_code == 404


def test_who_sees_what(suite, api, make_org):
    """Org admins: everything; program admins: their programs' entries;
    a learner of the organization: 403; another organization's admin: 404."""
    org_id, admin, _ = make_org()
    program, contract = program_with_contract(admin, org_id)
    other_program, _ = program_with_contract(admin, org_id)
    program_admin = add_program_admin(suite, api, org_id, [program["id"]])
    entry_for(admin, org_id, "program.created", other_program["id"])
    entry_for(admin, org_id, "program.created", program["id"])

    seen = {e["program_id"] for e in entries(program_admin, org_id)}
    assert program["id"] in seen and other_program["id"] not in seen
    assert None not in seen  # organization-level entries (contracts, settings) are not theirs

    learner = invited_person(suite, api, admin, program, contract)
    refused = learner.get(f"/v1/orgs/{org_id}/audit")
    assert refused.status_code == 403, refused.text
    assert learner.get(f"/v1/orgs/{org_id}/audit.csv").status_code == 403

    other_org, other_admin, _ = make_org()
    for path in (f"/v1/orgs/{org_id}/audit", f"/v1/orgs/{org_id}/audit.csv"):
        foreign = other_admin.get(path)
        assert foreign.status_code == 404, foreign.text
        assert foreign.json() == other_admin.get(path.replace(org_id, str(uuid.uuid4()))).json()


def test_filters_and_keyset_paging(suite, api, make_org):
    org_id, admin, _ = make_org()
    programs = [program_with_contract(admin, org_id)[0] for _ in range(3)]
    # entries arrive by events, in no set order: wait for every one the steps above cause
    caused = sorted(["org.created", "admin.role_granted", "person.profile_changed", "sign_in.succeeded"]
                    + ["contract.created", "program.created"] * 3)
    wait_for(lambda: sorted(e["action"] for e in entries(admin, org_id)) == caused)
    everything = entries(admin, org_id)
    assert [(e["occurred_at"], e["id"]) for e in everything] == sorted(
        ((e["occurred_at"], e["id"]) for e in everything), reverse=True)
    pages, cursor = [], None
    while True:
        response = admin.get(f"/v1/orgs/{org_id}/audit", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        pages += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if not cursor:
            break
    assert [e["id"] for e in pages] == [e["id"] for e in everything]
    assert {e["action"] for e in entries(admin, org_id, action="contract.")} == {"contract.created"}
    target = entries(admin, org_id, target=programs[1]["id"])
    assert {e["target"]["id"] for e in target} == {programs[1]["id"]}
    newest = everything[0]["occurred_at"]
    assert entries(admin, org_id, **{"from": newest})[0]["id"] == everything[0]["id"]
    assert everything[0]["id"] not in {e["id"] for e in entries(admin, org_id, to=newest)}
    assert entries(admin, org_id, actor=str(uuid.uuid4())) == []
    bad = admin.get(f"/v1/orgs/{org_id}/audit", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400


def test_csv_export_is_utf8_and_injection_safe(suite, api, make_org):
    org_id, admin, _ = make_org()
    # (tabs and carriage returns never pass the API's text fields: services/audit/tests/test_export.py has them)
    hostile = ["=HYPERLINK(\"http://evil.example\")", "+1+1", "-2+3", "@SUM(A1)", "Zoë Ünïcode"]
    for name in hostile:
        program, _ = program_with_contract(admin, org_id)
        renamed = admin.patch(f"/v1/programs/{program['id']}", json={"name": name})
        assert renamed.status_code == 200, renamed.text
    wait_for(lambda: len(entries(admin, org_id, action="program.updated")) == len(hostile))
    response = admin.get(f"/v1/orgs/{org_id}/audit.csv")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    labels = [row["target_label"] for row in rows if row["action"] == "program.updated"]
    assert sorted(labels) == sorted("'" + name if name[0] in "=+-@\t" else name for name in hostile)
    for row in rows:
        for value in row.values():
            assert not value or value[0] not in "=+-@\t\r", row
    assert "Zoë Ünïcode" in text
    # the export honours the filters
    only = admin.get(f"/v1/orgs/{org_id}/audit.csv", params={"action": "contract.created"})
    actions = {row["action"] for row in csv.DictReader(io.StringIO(only.content.decode("utf-8-sig")))}
    assert actions == {"contract.created"}


def test_a_redelivered_event_makes_one_entry(suite, api, make_org):
    """The same event (same id) delivered three times, as a broker redelivers."""
    org_id, admin, _ = make_org()
    program_id = str(uuid.uuid4())
    envelope = make_envelope(PROGRAM_CREATED, {
        "program_id": program_id, "org_id": org_id, "name": "Twice", "slug": "twice", "tagline": None,
        "join_url": "http://x/j", "contract_ids": [], "enrollment_limit": None}, source="programs", org_id=org_id,
        actor={"kind": "person", "id": str(uuid.uuid4())}, client_address="192.0.2.1")
    with kombu.Connection(suite.env["BROKER_URL"]) as conn:
        exchange = kombu.Exchange("programs.events", type="topic", durable=True)
        for _ in range(3):
            conn.Producer().publish(envelope, exchange=exchange, routing_key=PROGRAM_CREATED.type,
                                    declare=[exchange], serializer="json")
    wait_for(lambda: entries(admin, org_id, target=program_id))
    later = program_with_contract(admin, org_id)[0]  # events after the copies: they have all been handled
    wait_for(lambda: entries(admin, org_id, target=later["id"]))
    found = entries(admin, org_id, target=program_id)
    assert len(found) == 1 and found[0]["event_id"] == envelope["id"]
    assert found[0]["client_address"] == "192.0.2.1"


def test_the_chains_of_a_running_suite_verify(suite, api, make_org):
    org_id, admin, _ = make_org()
    program_with_contract(admin, org_id)
    wait_for(lambda: entries(admin, org_id, action="program.created"))
    verified = subprocess.run([sys.executable, "-m", "services.audit.cli", "verify"], env=suite.env,
                              capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"{org_id}: " in verified.stdout and " 0 broken" in verified.stdout
