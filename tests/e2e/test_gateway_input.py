"""Bad input at the gateway, with every process running (issue 10, items 3,
5, 6, 13, 16, 17): no 500 whatever the request, a stable code, and only
statuses the OpenAPI document lists for the operation."""
import re
import uuid

import pytest

from tests.e2e.conftest import Api, unique

NUL_PATH = "x%00"  # a NUL in a path segment, percent-encoded as a client sends it
NESTED = "[" * 100_000 + "]" * 100_000


@pytest.fixture(scope="module")
def spec(suite):
    return Api(suite.base_url).get("/v1/openapi.json").json()


def operations(spec):
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


def fill(path: str, values: dict, override: dict | None = None) -> str:
    values = {**values, **(override or {})}
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_every_operation_answers_bad_input_with_a_documented_4xx_and_a_code(api, make_org, spec):
    org_id, admin, _ = make_org()
    problems, sent = [], 0
    machines = {}  # scope -> an API token client: routes for API tokens only refuse people first

    def machine(scope: str) -> Api:
        if scope not in machines:
            created = admin.post(f"/v1/orgs/{org_id}/api-tokens", json={"name": scope, "scopes": [scope]})
            machines[scope] = Api(api.base_url, created.json()["token"])
        return machines[scope]

    for method, path, operation in operations(spec):
        client = admin if operation.get("security") else api
        if operation.get("security") == [{"apiToken": []}]:
            client = machine(operation["x-api-token-scope"])
        names = re.findall(r"\{(\w+)\}", path)
        # ids the OpenAPI document declares as UUIDs (a gradebook's course_id is a catalog id: plain text)
        uuid_params = {p["name"] for p in operation.get("parameters", [])
                       if p.get("in") == "path" and p.get("schema", {}).get("format") == "uuid"}

        values = {name: (org_id if name == "org_id" else str(uuid.uuid4())) if name in uuid_params
                  else "some-token-value" for name in names}
        takes_json = "application/json" in operation.get("requestBody", {}).get("content", {})
        probes = []  # (what, url, kwargs, expected statuses)
        for name in names:
            probes.append((f"NUL in {{{name}}}", fill(path, values, {name: NUL_PATH}), {},
                           {404} if name in uuid_params else {400}))
            if name in uuid_params:
                probes.append((f"non-UUID {{{name}}}", fill(path, values, {name: "abc"}), {}, {404}))
        url = fill(path, values)
        probes.append(("NUL in the query", url + "?q=%00", {}, {400}))
        probes.append(("long URI", url + "?q=" + "a" * 9000, {}, {414}))
        if takes_json:
            probes += [
                ("NUL in a body string", url, {"json": {"name": "n\u0000"}}, {400}),
                ("lone surrogate in a body string", url,
                 {"data": '{"name": "a\\ud800b"}', "headers": {"Content-Type": "application/json"}}, {400}),
                ("deeply nested JSON", url, {"data": NESTED, "headers": {"Content-Type": "application/json"}}, {400}),
                ("wrong content type", url, {"data": "{}", "headers": {"Content-Type": "text/plain"}}, {415}),
            ]
        for what, target, kwargs, expected in probes:
            response = client.request(method, target, **kwargs)
            sent += 1
            status = response.status_code
            where = f"{method} {path}: {what}: {status}"
            if status not in expected:
                problems.append(f"{where} (expected {sorted(expected)}) {response.text[:200]}")
            if str(status) not in operation["responses"]:
                problems.append(f"{where} is not documented")
            if response.headers.get("Content-Type", "").startswith("application/json"):
                if not response.json().get("error", {}).get("code"):
                    problems.append(f"{where} has no error code")
    assert sent > 300
    assert not problems, "\n".join(problems)


def test_the_reported_nul_surrogate_and_id_defects(api, make_org):
    org_id, admin, _ = make_org()
    for path, body in (("/v1/auth/login", {"email": "a\u0000@x.org", "password": "x"}),
                       ("/v1/auth/password-reset", {"email": "a\u0000@x.org"}),
                       ("/v1/auth/signup", {"email": "a\u0000@x.org", "full_name": "A", "password": "x" * 12})):
        refused = api.post(path, json=body)
        assert refused.status_code == 400, (path, refused.text)
        assert refused.json()["error"]["code"] == "INVALID_INPUT"
        assert refused.json()["error"]["details"]["email"][0].startswith("INVALID_CHARACTER:")
    assert admin.get("/v1/programs/%00").status_code == 404
    assert admin.get("/v1/catalog/courses", params={"q": "\u0000"}).status_code == 400
    contract = admin.post(f"/v1/orgs/{org_id}/contracts", json={"name": "n\u0000", "license_count": 5,
                                                                 "starts_on": "2026-01-01", "ends_on": "2027-01-01"})
    assert contract.status_code == 400 and contract.json()["error"]["code"] == "INVALID_INPUT"
    program = make_program(admin, org_id)
    surrogate = admin.post(f"/v1/programs/{program['id']}/collections", data='{"name": "a\\ud800b"}',
                           headers={"Content-Type": "application/json"})
    assert surrogate.status_code == 400, surrogate.text
    # Non-UUID ids in identity's routes (they were 500): 404 like every service's.
    for method, path in (("GET", f"/v1/orgs/{org_id}/people/abc"), ("PATCH", f"/v1/orgs/{org_id}/people/abc"),
                         ("DELETE", f"/v1/orgs/{org_id}/admins/abc")):
        answer = admin.request(method, path, json={"job_title": "x"} if method == "PATCH" else None)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "NOT_FOUND", (method, path)
    # An upper-case id is the same id.
    assert admin.get(f"/v1/programs/{program['id'].upper()}").json()["id"] == program["id"]
    nested = api.post("/v1/auth/login", data=NESTED, headers={"Content-Type": "application/json"})
    assert nested.status_code == 400 and nested.json()["error"]["details"]["_schema"][0].startswith("TOO_DEEP:")


def make_program(admin: Api, org_id: str) -> dict:
    contract = admin.post(f"/v1/orgs/{org_id}/contracts", json={
        "name": unique("Contract"), "license_count": 5, "starts_on": "2026-01-01", "ends_on": "2036-01-01"})
    assert contract.status_code == 201, contract.text
    program = admin.post(f"/v1/orgs/{org_id}/programs", json={"name": unique("Program"),
                                                               "contract_ids": [contract.json()["id"]]})
    assert program.status_code == 201, program.text
    return program.json()


def field_code(response, field: str) -> str:
    assert response.status_code == 400, response.text
    return response.json()["error"]["details"][field][0].split(":")[0]


def test_integers_are_integers_names_are_not_blank_and_one_email_rule(api, make_org):
    org_id, admin, _ = make_org()
    contract = {"name": unique("C"), "license_count": 5, "starts_on": "2026-01-01", "ends_on": "2027-01-01"}
    for count in (1.5, "5", True):
        answer = admin.post(f"/v1/orgs/{org_id}/contracts", json={**contract, "license_count": count})
        assert field_code(answer, "license_count") == "NOT_AN_INTEGER", count
    program = make_program(admin, org_id)
    answer = admin.patch(f"/v1/programs/{program['id']}", json={"enrollment_limit": 1.5})
    assert field_code(answer, "enrollment_limit") == "NOT_AN_INTEGER"
    for path, body in ((f"/v1/orgs/{org_id}/contracts", {**contract, "name": "   "}),
                       (f"/v1/programs/{program['id']}/collections", {"name": " \t "})):
        assert field_code(admin.post(path, json=body), "name") in ("BLANK", "CONTROL_CHARACTER")
    assert field_code(admin.post(f"/v1/orgs/{org_id}/contracts", json={**contract, "name": "   "}), "name") == "BLANK"
    signup = api.post("/v1/auth/signup", json={"email": f"{unique('x')}@example.com", "full_name": "Line\r\nBreak",
                                               "password": "long enough password"})
    assert field_code(signup, "full_name") == "CONTROL_CHARACTER"
    invitation = admin.post("/v1/invitations", json={
        "program_id": program["id"], "contract_id": program["contract_ids"][0], "full_name": "Jöhn",
        "email": "jöhn.x@example.org"})
    assert field_code(invitation, "email") == "EMAIL_LOCAL_PART_NOT_ASCII"


def test_a_chunked_body_is_read(api, make_org):
    _, _, email = make_org()
    body = b'{"email": "%s", "password": "correct horse battery"}' % email.encode()
    chunks = (body[i:i + 7] for i in range(0, len(body), 7))  # requests sends a generator chunked
    answer = api.post("/v1/auth/login", data=chunks, headers={"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["access_token"]


def test_api_tokens_reach_the_read_routes_of_their_scopes_only(api, make_org, spec):
    org_id, admin, _ = make_org()
    other_org, other_admin, _ = make_org()
    program = make_program(admin, org_id)
    other_program = make_program(other_admin, other_org)
    scoped = [(method, path, operation) for method, path, operation in operations(spec)
              if operation.get("x-api-token-scope")]
    scopes = sorted({operation["x-api-token-scope"] for _, _, operation in scoped})
    assert {"org:read", "people:read", "programs:read", "invitations:read", "messages:read"} <= set(scopes)
    # read scopes open reads only; a write scope (activity:write) its writes; the provisioning scope
    # (scim) the SCIM routes, and nothing else opens those
    assert all(method == "GET" or operation["x-api-token-scope"].endswith(":write") or path.startswith("/scim/")
               for method, path, operation in scoped)
    assert all((operation.get("x-api-token-scope") == "scim") == path.startswith("/scim/")
               for _, path, operation in operations(spec) if operation.get("security"))
    tokens = {}
    for scope in scopes:
        created = admin.post(f"/v1/orgs/{org_id}/api-tokens", json={"name": scope, "scopes": [scope]})
        assert created.status_code == 201, created.text
        tokens[scope] = Api(api.base_url, created.json()["token"])
    values = {"org_id": org_id, "program_id": program["id"], "contract_id": program["contract_ids"][0]}

    for method, path, operation in operations(spec):
        if not operation.get("security"):
            continue
        url = fill(path, {name: values.get(name, str(uuid.uuid4()))
                          for name in re.findall(r"\{(\w+)\}", path)})
        needed = operation.get("x-api-token-scope")
        for scope, token in tokens.items():
            answer = token.request(method, url, json={} if "requestBody" in operation else None)
            if path.startswith("/scim/"):  # RFC 7644's errors; past the scope check, SCIM's own rules apply
                if scope == needed:
                    assert answer.status_code not in (401, 403), (scope, method, path, answer.text)
                else:
                    assert answer.status_code == 403 and answer.json()["status"] == "403", (scope, method, path)
                continue
            if scope == needed:  # a write sent an empty body: refused as input, past the scope check
                assert answer.status_code in ((200, 404) if method == "GET" else (400,)), (scope, method, path,
                                                                                         answer.text)
            else:
                assert answer.status_code == 403, (scope, method, path, answer.status_code)
                code = answer.json()["error"]["code"]
                assert code == ("INSUFFICIENT_SCOPE" if needed else "FORBIDDEN"), (scope, method, path)
                if needed:
                    assert answer.json()["error"]["details"]["required_scope"] == needed

    reader = tokens["programs:read"]
    listed = reader.get(f"/v1/orgs/{org_id}/programs")
    assert listed.status_code == 200 and [p["id"] for p in listed.json()["items"]] == [program["id"]]
    assert reader.get(f"/v1/programs/{program['id']}/members").status_code == 200
    # Its own organization only.
    assert reader.get(f"/v1/orgs/{other_org}/programs").status_code == 404
    assert reader.get(f"/v1/programs/{other_program['id']}").status_code == 404
    assert tokens["org:read"].get(f"/v1/orgs/{org_id}").json()["id"] == org_id
    assert tokens["messages:read"].get(f"/v1/orgs/{org_id}/messages").status_code == 200
    # Reserved scopes can be granted; unknown ones cannot.
    assert admin.post(f"/v1/orgs/{org_id}/api-tokens", json={"name": "lms", "scopes": ["activity:write"]}
                      ).status_code == 201
    assert admin.post(f"/v1/orgs/{org_id}/api-tokens", json={"name": "x", "scopes": ["programs:write"]}
                      ).status_code == 400
