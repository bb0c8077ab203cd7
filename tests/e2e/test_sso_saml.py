"""Single sign-on with SAML 2.0, end to end (issue 17, docs/sso.md): the real
gateway and identity (pysaml2 + xmlsec1) against an identity provider built
with the same library, signing real assertions (tests/support/saml_idp.py).
The browser's hops are followed by hand: start -> IdP (AuthnRequest) -> ACS
(form POST) -> console's /sso/complete?code -> exchange for tokens."""
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.e2e.conftest import Api, unique
from tests.e2e.test_sso_oidc import audit_entries, verify_domain
from tests.support.waiting import wait_for

# SAML needs Debian's xmlsec1 (scripts/ensure-infra.sh installs it): without it these tests fail, not skip.


@pytest.fixture(scope="module")
def idp():
    from tests.support.saml_idp import SamlIdp

    return SamlIdp(f"https://idp-{uuid.uuid4().hex[:6]}.test.example/saml")


@pytest.fixture(scope="module")
def globex(suite, api, idp):
    from tests.e2e.conftest import create_org

    org_id, admin, _ = create_org(suite, api)
    domain = f"globex-{uuid.uuid4().hex[:8]}.example"
    created = admin.post(f"/v1/orgs/{org_id}/sso/connections", json={
        "kind": "SAML", "name": "Globex ADFS", "idp_metadata_xml": idp.metadata(),
        "attribute_mapping": {"full_name": "displayName", "job_title": "title"}})
    assert created.status_code == 201, created.text
    connection = created.json()
    assert connection["idp_entity_id"] == idp.entity_id
    metadata = requests.get(connection["sp_metadata_url"], timeout=30)
    assert metadata.status_code == 200 and "EntityDescriptor" in metadata.text
    assert connection["acs_url"] in metadata.text
    idp.sp_metadata = metadata.text
    admin.post(f"/v1/orgs/{org_id}/sso/domains", json={"domain": domain})
    verify_domain(suite, org_id, domain)
    return {"org_id": org_id, "admin": admin, "domain": domain, "connection": connection}


def start(suite, idp, connection) -> tuple[str, str]:
    started = requests.get(f"{suite.base_url}/v1/sso/{connection['id']}/start", allow_redirects=False, timeout=30)
    assert started.status_code == 302, started.text
    assert started.headers["Location"].startswith(f"{idp.entity_id}/sso?")
    return idp.read_request(started.headers["Location"])


def post_acs(connection, saml_response: str, relay_state: str) -> requests.Response:
    return requests.post(connection["acs_url"], data={"SAMLResponse": saml_response, "RelayState": relay_state},
                         allow_redirects=False, timeout=30)


def test_signed_assertion_signs_in_and_a_replay_is_refused(suite, api, idp, globex):
    connection = globex["connection"]
    email = f"{unique('saml')}@{globex['domain']}"
    request_id, relay = start(suite, idp, connection)
    response = idp.response(request_id, connection["acs_url"], connection["sp_entity_id"], email,
                            {"displayName": "Sam L", "title": "Engineer"})
    answer = post_acs(connection, response, relay)
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["Location"])
    assert location.path == "/sso/complete"
    code = parse_qs(location.query)["code"][0]
    tokens = api.post("/v1/auth/sso/exchange", json={"code": code}).json()
    me = Api(suite.base_url, tokens["access_token"]).get("/v1/me").json()
    assert me["email"] == email
    person = globex["admin"].get(f"/v1/orgs/{globex['org_id']}/people/{me['id']}").json()
    assert (person["full_name"], person["job_title"], person["external_id"]) == ("Sam L", "Engineer", email)
    replayed = post_acs(connection, response, relay)
    assert replayed.status_code == 401 and "ASSERTION_REPLAYED" in replayed.text, replayed.text
    assert wait_for(lambda: [e for e in audit_entries(globex["admin"], globex["org_id"], "sign_in.failed")
                             if e["details"].get("reason") == "ASSERTION_REPLAYED"], timeout=30)
    assert [e for e in audit_entries(globex["admin"], globex["org_id"], "sign_in.succeeded")
            if e["details"]["method"] == "SAML"]


def test_encrypted_assertion_is_accepted(suite, api, idp, globex):
    connection = globex["connection"]
    email = f"{unique('enc')}@{globex['domain']}"
    request_id, relay = start(suite, idp, connection)
    response = idp.response(request_id, connection["acs_url"], connection["sp_entity_id"], email, encrypt=True)
    answer = post_acs(connection, response, relay)
    assert answer.status_code == 302, answer.text


@pytest.mark.parametrize("case, reason", [("forged", "SIGNATURE_INVALID"), ("audience", "AUDIENCE_INVALID"),
                                          ("expired", "ASSERTION_EXPIRED"), ("unsigned", "SIGNATURE_INVALID")])
def test_a_wrong_assertion_is_refused_with_a_page_and_an_audit_entry(suite, idp, globex, case, reason):
    connection = globex["connection"]
    email = f"{unique(case)}@{globex['domain']}"
    request_id, relay = start(suite, idp, connection)
    issuer = idp.forged() if case == "forged" else idp
    response = issuer.response(request_id, connection["acs_url"], connection["sp_entity_id"], email,
                               audience="https://someone-else.example/sp" if case == "audience" else None,
                               expired=case == "expired", sign_assertion=case != "unsigned")
    answer = post_acs(connection, response, relay)
    assert answer.status_code == 401, answer.text
    assert answer.headers["Content-Type"].startswith("text/html")
    assert f'<code id="sso-reason">{reason}</code>' in answer.text, answer.text
    assert wait_for(lambda: [e for e in audit_entries(globex["admin"], globex["org_id"], "sign_in.failed")
                             if e["details"].get("reason") == reason and e["details"]["method"] == "SAML"],
                    timeout=30)


def test_a_bad_relay_state_or_form_is_refused(suite, idp, globex):
    connection = globex["connection"]
    request_id, relay = start(suite, idp, connection)
    response = idp.response(request_id, connection["acs_url"], connection["sp_entity_id"],
                            f"{unique('rs')}@{globex['domain']}")
    answer = post_acs(connection, response, relay[:-4] + "AAAA")
    assert answer.status_code == 401 and "STATE_INVALID" in answer.text
    not_a_form = requests.post(connection["acs_url"], json={"SAMLResponse": response}, timeout=30)
    assert not_a_form.status_code == 415
    garbage = requests.post(connection["acs_url"], data={"SAMLResponse": "not base64!", "RelayState": relay},
                            timeout=30)
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == "INVALID_INPUT"


def test_metadata_that_is_not_an_idps_is_refused(globex):
    bad = globex["admin"].post(f"/v1/orgs/{globex['org_id']}/sso/connections", json={
        "kind": "SAML", "name": "Broken", "idp_metadata_xml": "<hello/>"})
    assert bad.status_code == 400 and "idp_metadata_xml" in bad.json()["error"]["details"], bad.text


def test_metadata_can_come_from_the_idps_metadata_url(globex, idp):
    """The IdP's metadata URL is read over HTTP when the connection is saved (here a loopback server)."""
    import threading

    from werkzeug.serving import make_server
    from werkzeug.wrappers import Response

    from tests.support.suite import free_port

    xml = idp.metadata()
    port = free_port()
    server = make_server("127.0.0.1", port, lambda environ, start: Response(
        xml, content_type="application/samlmetadata+xml")(environ, start), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        made = globex["admin"].post(f"/v1/orgs/{globex['org_id']}/sso/connections", json={
            "kind": "SAML", "name": "From URL", "idp_metadata_url": f"http://127.0.0.1:{port}/metadata"})
        assert made.status_code == 201, made.text
        assert made.json()["idp_entity_id"] == idp.entity_id
        assert made.json()["idp_metadata_url"] == f"http://127.0.0.1:{port}/metadata"
    finally:
        server.shutdown()
    unreachable = globex["admin"].post(f"/v1/orgs/{globex['org_id']}/sso/connections", json={
        "kind": "SAML", "name": "Nowhere", "idp_metadata_url": f"http://127.0.0.1:{free_port()}/metadata"})
    assert unreachable.status_code == 400 and "idp_metadata_url" in unreachable.json()["error"]["details"]


def start_from(suite, connection_id: str, client: str, accept: str | None = None) -> tuple[int, dict, bytes]:
    """GET /v1/sso/{id}/start as the client `client` behind the suite's trusted proxy (TEST_PROXY, whose
    X-Forwarded-For the gateway believes): status, headers, body."""
    return as_client(suite, "GET", f"/v1/sso/{connection_id}/start", client,
                     {"Accept": accept} if accept else {})


def as_client(suite, method: str, path: str, client: str, headers: dict | None = None,
              body: bytes | None = None) -> tuple[int, dict, bytes]:
    """A request as the client `client` behind the suite's trusted proxy: status, headers, body."""
    import http.client

    from tests.support.suite import TEST_PROXY

    url = urlsplit(suite.base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30, source_address=(TEST_PROXY, 0))
    try:
        connection.request(method, path, body=body, headers={"X-Forwarded-For": client, **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_starts_are_limited_per_client_address(suite, idp, globex):
    """Each start stores a sign-in under way: SSO_START_MAX_PER_CLIENT starts per client address in the
    throttle's 15-minute window, then 429 with Retry-After: a page saying when to try again for a browser (a
    top-level navigation), the platform's JSON error for a client that asks for JSON; another client starts
    as before, and an unknown connection counts too (no probing around the limit)."""
    import json
    import random
    from concurrent.futures import ThreadPoolExecutor

    from services.identity.settings import settings

    limit = settings().sso_start_max_per_client
    connection_id = globex["connection"]["id"]
    attacker = f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: start_from(suite, connection_id, attacker)[0], range(limit)))
    assert statuses == [302] * limit, sorted(set(statuses))
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    for accept in (browser, None):
        status, headers, body = start_from(suite, connection_id, attacker, accept)
        assert status == 429 and headers["Content-Type"].startswith("text/html"), (status, headers)
        page = body.decode()
        assert "Too many sign-in attempts" in page and "Try again in about " in page and "minutes" in page, page
        assert 0 < int(headers["Retry-After"]) <= 15 * 60 and "/sign-in" in page
    status, headers, body = start_from(suite, connection_id, attacker, "application/json")
    assert status == 429, body
    error = json.loads(body)["error"]
    assert error["code"] == "TOO_MANY_REQUESTS" and error["details"]["retry_after_seconds"] > 0, error
    assert 0 < int(headers["Retry-After"]) <= 15 * 60 and headers["Content-Type"].startswith("application/json")
    assert start_from(suite, str(uuid.uuid4()), attacker)[0] == 429  # unknown connection: still the limit
    assert start_from(suite, connection_id, "198.19.0.7")[0] == 302     # another client is not affected


def test_refused_answers_are_limited_per_client_address(suite, idp, globex):
    """Each refused answer (a forged signature, a tampered RelayState...) is a sign_in.failed entry: so refused
    answers are counted per client address (SSO_ANSWER_MAX_REFUSALS_PER_CLIENT in 15 minutes), the client is
    then locked (one entry, reason TOO_MANY_REFUSALS) and its answers are refused before they are read, with a
    429 page saying when to try again and no entry each; another client is refused as before. The OIDC
    callback shares the count."""
    import base64
    import random
    from urllib.parse import urlencode

    from services.identity.settings import settings

    limit = settings().sso_answer_max_refusals_per_client
    connection, org_id = globex["connection"], globex["org_id"]
    acs_path = urlsplit(connection["acs_url"]).path
    attacker = f"198.51.{random.randrange(256)}.{random.randrange(1, 255)}"
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}

    def answer(client: str, saml_response: str, relay: str) -> tuple[int, dict, bytes]:
        body = urlencode({"SAMLResponse": saml_response, "RelayState": relay}).encode()
        return as_client(suite, "POST", acs_path, client, form_type, body)

    def entries_from(client: str) -> list[dict]:
        return [e for e in audit_entries(globex["admin"], org_id, "sign_in.failed")
                if e.get("client_address") == client]

    # one forged signature (a real sign-in under way), then tampered RelayStates
    request_id, relay = start_from_idp(suite, idp, connection, attacker)
    forged = idp.forged().response(request_id, connection["acs_url"], connection["sp_entity_id"],
                                   f"{unique('forged')}@{globex['domain']}")
    status, _, body = answer(attacker, forged, relay)
    assert status == 401 and b"SIGNATURE_INVALID" in body, body
    junk = base64.b64encode(b"<samlp:Response/>").decode()
    for n in range(limit - 1):
        status, headers, body = answer(attacker, junk, f"tampered-{n}")
        assert status == 401 and headers["Content-Type"].startswith("text/html"), (n, status, body)
    reasons = wait_for(lambda: (lambda found: found if len(found) >= limit + 1 else None)(
        [e["details"]["reason"] for e in entries_from(attacker)]), what="the refusals' and the lock's audit entries")
    assert sorted(set(reasons)) == ["SIGNATURE_INVALID", "STATE_INVALID", "TOO_MANY_REFUSALS"], reasons
    assert reasons.count("TOO_MANY_REFUSALS") == 1 and len(reasons) == limit + 1, reasons

    # locked: refused before the answer is read, a page, Retry-After, nothing more in the audit log
    for _ in range(5):
        status, headers, body = answer(attacker, junk, "tampered-again")
        page = body.decode()
        assert status == 429 and headers["Content-Type"].startswith("text/html"), (status, page)
        assert "Too many sign-in attempts" in page and "were refused" in page and "Try again in about " in page
        assert 0 < int(headers["Retry-After"]) <= 15 * 60 and "TOO_MANY_REFUSALS" in page
    status, headers, body = as_client(suite, "GET", "/v1/sso/oidc/callback?" + urlencode(
        {"state": f"{connection['id']}.forged", "code": "x"}), attacker)
    assert status == 429 and b"TOO_MANY_REFUSALS" in body and int(headers["Retry-After"]) > 0, (status, body)
    other = f"198.51.{random.randrange(256)}.{random.randrange(1, 255)}"
    status, _, body = answer(other, junk, "tampered-elsewhere")
    assert status == 401 and b"STATE_INVALID" in body, (status, body)  # another client: refused as before
    wait_for(lambda: entries_from(other), what="the other client's refusal in the audit log")
    assert len(entries_from(attacker)) == limit + 1  # nothing was recorded while locked


def start_from_idp(suite, idp, connection, client: str) -> tuple[str, str]:
    status, headers, body = start_from(suite, connection["id"], client)
    assert status == 302, body
    return idp.read_request(headers["Location"])
