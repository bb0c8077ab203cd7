"""Auth and identity through the gateway, with every process running."""
import time

import jwt
import requests

from servicekit import signing
from tests.e2e.conftest import Api, add_admin, outbox_payload, unique

# identity signs with the development key in the test suite (APP_ENV=development)
DEV_KEY = signing.SigningKey(signing.development_private_key())


def test_login_me_refresh_logout(api, make_org):
    org_id, admin, email = make_org()
    me = admin.get("/v1/me")
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["email"] == email
    assert body["roles"] == [{"role": "ORG_ADMIN", "org_id": org_id, "program_ids": []}]
    assert me.headers["X-Request-Id"]

    tokens = api.post("/v1/auth/login", json={"email": email.upper(), "password": "correct horse battery"}).json()
    renewed = api.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert renewed.status_code == 200
    # Rotation: the used refresh token is dead.
    assert api.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401
    new_refresh = renewed.json()["refresh_token"]
    assert api.post("/v1/auth/logout", json={"refresh_token": new_refresh}).status_code == 204
    refused = api.post("/v1/auth/refresh", json={"refresh_token": new_refresh})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "TOKEN_INVALID"


def test_request_id_is_echoed(api):
    response = api.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"
    missing = api.get("/v1/no/such/path", headers={"X-Request-Id": "r-9"})
    assert missing.status_code == 404 and missing.headers["X-Request-Id"] == "r-9"
    assert missing.json()["error"]["code"] == "NOT_FOUND"


def test_wrong_password_then_throttled(api, make_org):
    _, _, email = make_org()
    for _ in range(5):
        wrong = api.post("/v1/auth/login", json={"email": email, "password": "wrong password!"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "INVALID_CREDENTIALS"
    throttled = api.post("/v1/auth/login", json={"email": email, "password": "correct horse battery"})
    assert throttled.status_code == 429
    assert throttled.json()["error"]["details"]["retry_after_seconds"] > 0


def test_expired_and_tampered_tokens_are_refused(api, make_org):
    _, admin, _ = make_org()
    claims = jwt.decode(admin.token, options={"verify_signature": False})
    expired = DEV_KEY.sign({**claims, "exp": int(time.time()) - 5})
    response = Api(api.base_url, expired).get("/v1/me")
    assert response.status_code == 401 and response.json()["error"]["code"] == "TOKEN_EXPIRED"
    forged = jwt.encode({**claims, "roles": [{"role": "ORG_ADMIN", "org_id": "other", "program_ids": []}]},
                        "not-the-secret-not-the-secret-32b", algorithm="HS256")
    response = Api(api.base_url, forged).get("/v1/me")
    assert response.status_code == 401 and response.json()["error"]["code"] == "TOKEN_INVALID"
    header, payload, signature = admin.token.split(".")
    tampered = ".".join([header, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), signature])
    assert Api(api.base_url, tampered).get("/v1/me").status_code == 401
    assert api.get("/v1/me").status_code == 401


def test_verified_token_is_refused_once_it_expires(api, make_org):
    """The gateway remembers verified tokens, but never past their expiry."""
    _, admin, _ = make_org()
    claims = jwt.decode(admin.token, options={"verify_signature": False})
    short = Api(api.base_url, DEV_KEY.sign({**claims, "exp": int(time.time()) + 3}))
    assert short.get("/v1/me").status_code == 200
    time.sleep(3.5)
    response = short.get("/v1/me")
    assert response.status_code == 401 and response.json()["error"]["code"] == "TOKEN_EXPIRED"


def test_org_settings_are_tenant_scoped(api, make_org):
    org_a, admin_a, _ = make_org()
    org_b, admin_b, _ = make_org()
    assert admin_a.get(f"/v1/orgs/{org_a}").status_code == 200
    changed = admin_a.patch(f"/v1/orgs/{org_a}", json={"brand_color": "#112233", "timezone": "Europe/Paris"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["brand_color"] == "#112233"
    # Another organization's admin sees nothing and changes nothing.
    for response in (admin_b.get(f"/v1/orgs/{org_a}"), admin_b.patch(f"/v1/orgs/{org_a}", json={"name": "Mine"}),
                     admin_b.get(f"/v1/orgs/{org_a}/admins"),
                     admin_b.post(f"/v1/orgs/{org_a}/admins",
                                  json={"email": "x@example.com", "full_name": "X", "role": "ORG_ADMIN"})):
        assert response.status_code == 404, response.text
    assert admin_a.get(f"/v1/orgs/{org_a}").json()["name"] != "Mine"


def test_bad_input_is_a_clear_4xx(api, make_org):
    org_id, admin, _ = make_org()
    cases = [
        admin.patch(f"/v1/orgs/{org_id}", data="{not json", headers={"Content-Type": "application/json"}),
        admin.patch(f"/v1/orgs/{org_id}", json={"brand_color": 42}),
        admin.patch(f"/v1/orgs/{org_id}", json={"unknown_field": "x"}),
        admin.patch(f"/v1/orgs/{org_id}", json=["not", "an", "object"]),
        admin.patch(f"/v1/orgs/{org_id}", data="a=b", headers={"Content-Type": "application/x-www-form-urlencoded"}),
        admin.patch(f"/v1/orgs/{org_id}", data="x" * (2 * 1024 * 1024), headers={"Content-Type": "application/json"}),
        api.post("/v1/auth/login", json={"email": "a@b.c"}),
        admin.post(f"/v1/orgs/{org_id}/admins", json={"email": "not-an-email", "full_name": "X", "role": "ORG_ADMIN"}),
    ]
    expected = [400, 400, 400, 400, 415, 413, 400, 400]
    assert [c.status_code for c in cases] == expected, [c.text for c in cases]
    for case in cases:
        assert set(case.json()["error"]) == {"code", "message", "details"}
    assert "brand_color" in cases[1].json()["error"]["details"]
    assert "unknown_field" in cases[2].json()["error"]["details"]


def test_admins_add_list_remove_and_first_password(api, make_org, suite):
    org_id, admin, _ = make_org()
    email = f"{unique('second')}@example.com"
    added = add_admin(admin, org_id, email, "Sam Second")
    again = admin.post(f"/v1/orgs/{org_id}/admins", json={"email": email.upper(), "full_name": "Sam",
                                                           "role": "ORG_ADMIN"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "ALREADY_ADMIN"
    admins = admin.get(f"/v1/orgs/{org_id}/admins").json()
    assert sorted(a["email"] for a in admins)[0:2] and any(a["email"] == email for a in admins)
    # The new admin sets a first password with the token identity put in the event for messaging.
    token = first_password_token(suite, email)
    assert api.post("/v1/auth/password-reset/confirm", json={"token": token, "password": "a new password!"}).ok
    second = api.as_user(email, "a new password!")
    assert second.get(f"/v1/orgs/{org_id}").status_code == 200
    # Single use.
    reused = api.post("/v1/auth/password-reset/confirm", json={"token": token, "password": "another one!!"})
    assert reused.status_code == 401
    assert admin.delete(f"/v1/orgs/{org_id}/admins/{added['id']}").status_code == 204
    assert all(a["email"] != email for a in admin.get(f"/v1/orgs/{org_id}/admins").json())


def test_password_reset_answers_the_same_for_unknown_emails(api):
    known = api.post("/v1/auth/password-reset", json={"email": "nobody-here@example.com"})
    assert known.status_code == 202


def test_signup_and_verify(api, suite):
    email = f"{unique('learner')}@example.com"
    created = api.post("/v1/auth/signup", json={"email": email, "full_name": "Lee Learner",
                                                "password": "learning is fun"})
    assert created.status_code == 201, created.text
    assert created.json()["email_verified"] is False
    duplicate = api.post("/v1/auth/signup", json={"email": email.upper(), "full_name": "Lee",
                                                  "password": "learning is fun"})
    assert duplicate.status_code == 409
    token = outbox_link_token(suite, "identity.user.verification_requested.v1", email, "verify_url")
    assert api.post("/v1/auth/verify-email", json={"token": token}).status_code == 200
    learner = api.as_user(email, "learning is fun")
    assert learner.get("/v1/me").json()["email_verified"] is True


def test_api_token_is_shown_once_and_works_as_bearer(api, make_org):
    org_id, admin, _ = make_org()
    created = admin.post(f"/v1/orgs/{org_id}/api-tokens", json={"name": "LMS", "scopes": ["activity:write"]})
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith("lat_")
    # People endpoints refuse machine tokens.
    assert Api(api.base_url, token).get("/v1/me").status_code == 403
    bad_scope = admin.post(f"/v1/orgs/{org_id}/api-tokens", json={"name": "x", "scopes": ["root"]})
    assert bad_scope.status_code == 400


def test_api_tokens_are_listed_without_secrets_and_can_be_revoked(api, make_org):
    org_id, admin, _ = make_org()
    created = admin.post(f"/v1/orgs/{org_id}/api-tokens", json={"name": "LMS", "scopes": ["activity:write"]}).json()
    machine = Api(api.base_url, created["token"])
    assert machine.get("/v1/me").status_code == 403  # authenticated (as a machine), and now cached

    listed = admin.get(f"/v1/orgs/{org_id}/api-tokens")
    assert listed.status_code == 200
    [entry] = listed.json()
    assert entry["id"] == created["id"] and entry["name"] == "LMS" and entry["revoked_at"] is None
    assert "token" not in entry and created["token"] not in listed.text

    # another organization's admin can neither see nor revoke it
    other_org, other_admin, _ = make_org()
    assert other_admin.get(f"/v1/orgs/{org_id}/api-tokens").status_code == 404
    assert other_admin.delete(f"/v1/orgs/{other_org}/api-tokens/{created['id']}").status_code == 404
    assert other_admin.delete(f"/v1/orgs/{org_id}/api-tokens/{created['id']}").status_code == 404
    assert admin.delete(f"/v1/orgs/{org_id}/api-tokens/not-a-uuid").status_code == 404
    assert machine.get("/v1/me").status_code == 403  # still valid

    assert admin.delete(f"/v1/orgs/{org_id}/api-tokens/{created['id']}").status_code == 204
    refused = machine.get("/v1/me")  # at once, although this gateway had cached it
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "TOKEN_INVALID"
    assert admin.delete(f"/v1/orgs/{org_id}/api-tokens/{created['id']}").status_code == 204  # idempotent
    assert admin.get(f"/v1/orgs/{org_id}/api-tokens").json()[0]["revoked_at"] is not None


def test_openapi_is_complete(api):
    spec = api.get("/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    for path in ("/v1/auth/login", "/v1/me", "/v1/orgs/{org_id}", "/v1/orgs/{org_id}/admins/{admin_id}"):
        assert path in spec["paths"]
    login = spec["paths"]["/v1/auth/login"]["post"]
    assert "requestBody" in login and "200" in login["responses"]


def test_metrics_and_readiness(api, suite):
    assert api.get("/readyz").status_code == 200
    api.get("/v1/me")
    ops = suite.ops_url("gateway")
    assert requests.get(f"{ops}/readyz", timeout=10).status_code == 200
    assert requests.get(f"{ops}/healthz", timeout=10).status_code == 200
    metrics = requests.get(f"{ops}/metrics", timeout=10).text
    assert 'learnadmin_entrypoint_requests_total{entrypoint="me",kind="http",service="gateway"}' in metrics
    # Metrics are off the API port (its workers serve clients; scrapes do not queue behind them).
    assert api.get("/metrics").status_code == 404


def outbox_link_token(suite, event_type: str, email: str, field: str) -> str:
    return outbox_payload(suite, event_type, email)[field].split("token=")[1]


def first_password_token(suite, email: str) -> str:
    return outbox_link_token(suite, "identity.user.password_reset_requested.v1", email, "reset_url")


def test_request_id_flows_through_rpc_into_events_and_logs(api, suite):
    email = f"{unique('corr')}@example.com"
    request_id = f"req-{unique('x')}"
    created = api.post("/v1/auth/signup", headers={"X-Request-Id": request_id},
                       json={"email": email, "full_name": "Cora Relation", "password": "learning is fun"})
    assert created.status_code == 201
    from sqlalchemy import create_engine, text

    engine = create_engine(suite.database_url("identity"))
    with engine.connect() as conn:
        ids = conn.execute(
            text("SELECT DISTINCT envelope->>'correlation_id' FROM kit_outbox "
                 "WHERE envelope->'payload'->>'email' = :e"),
            {"e": email},
        ).scalars().all()
    engine.dispose()
    assert ids == [request_id]
    identity_log_lines = [line for line in suite.log("identity").splitlines() if request_id in line]
    assert identity_log_lines and all('"correlation_id": "' + request_id in line for line in identity_log_lines)
