"""Issue 10's identity defects through the gateway, with every process running."""
from concurrent.futures import ThreadPoolExecutor

from services.identity.tests.conftest import reset_tokens
from tests.e2e.conftest import Api, add_admin, unique
from tests.e2e.helpers import database_fixture

PASSWORD = "correct horse battery"


identity_db = database_fixture("identity")


def in_parallel(count: int, request) -> list:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda i: request(i), range(count)))


def test_an_organization_renames_only_its_own_profile_of_a_person(api, make_org, identity_db):
    org_a, admin_a, _ = make_org()
    org_b, admin_b, _ = make_org()
    email = f"{unique('shared')}@example.com"
    # Both organizations hold the person (as an admin here: the simplest way in through the API).
    user_id = add_admin(admin_a, org_a, email, "Sam Original")["user_id"]
    assert admin_b.post(f"/v1/orgs/{org_b}/admins", json={"email": email, "full_name": "Sam at B",
                                                          "role": "ORG_ADMIN"}).status_code == 201
    [token] = reset_tokens(identity_db, email)[-1:]
    assert api.post("/v1/auth/password-reset/confirm", json={"token": token, "password": PASSWORD}).ok
    person = api.as_user(email, PASSWORD)

    renamed = admin_b.patch(f"/v1/orgs/{org_b}/people/{user_id}", json={"full_name": "Renamed By Org B",
                                                                         "job_title": "Analyst"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["full_name"] == "Renamed By Org B"
    assert admin_b.get(f"/v1/orgs/{org_b}/people/{user_id}").json()["full_name"] == "Renamed By Org B"
    # the person's own name and the other organization's view are untouched
    assert person.get("/v1/me").json()["full_name"] == "Sam Original"
    seen_by_a = admin_a.get(f"/v1/orgs/{org_a}/people/{user_id}").json()
    assert seen_by_a["full_name"] == "Sam Original" and seen_by_a["job_title"] is None


def test_ids_that_are_not_uuids_are_not_found(make_org):
    org_id, admin, _ = make_org()
    for response in (admin.get(f"/v1/orgs/{org_id}/people/abc"),
                     admin.patch(f"/v1/orgs/{org_id}/people/abc", json={"job_title": "x"}),
                     admin.delete(f"/v1/orgs/{org_id}/admins/abc"),
                     admin.delete(f"/v1/orgs/{org_id}/api-tokens/abc")):
        assert response.status_code == 404, (response.request.method, response.request.url, response.text)
        assert response.json()["error"]["code"] == "NOT_FOUND"


def test_concurrent_duplicate_signups_give_one_account(api):
    email = f"{unique('twin')}@example.com"
    body = {"email": email, "full_name": "Twin", "password": "learning is fun"}
    answers = in_parallel(10, lambda i: Api(api.base_url).post("/v1/auth/signup", json=body))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] + [409] * 9, [r.text for r in answers]
    assert all(r.json()["error"]["code"] == "EMAIL_TAKEN" for r in answers if r.status_code == 409)


def test_parallel_wrong_passwords_cannot_pass_the_throttle(api, make_org):
    _, _, email = make_org()
    answers = in_parallel(40, lambda i: Api(api.base_url).post(
        "/v1/auth/login", json={"email": email, "password": f"wrong password {i}"}))
    codes = [r.json()["error"]["code"] for r in answers]
    assert set(codes) <= {"INVALID_CREDENTIALS", "TOO_MANY_REQUESTS", "SERVICE_UNAVAILABLE"}, codes
    assert codes.count("INVALID_CREDENTIALS") <= 5  # LOGIN_MAX_FAILURES
    locked = api.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert locked.status_code == 429 and locked.json()["error"]["details"]["retry_after_seconds"] > 0


def test_a_newer_password_link_invalidates_the_older_ones(api, make_org, identity_db):
    _, _, email = make_org()
    for _ in range(2):
        assert api.post("/v1/auth/password-reset", json={"email": email}).status_code == 202
    older, newer = reset_tokens(identity_db, email)[-2:]
    stale = api.post("/v1/auth/password-reset/confirm", json={"token": older, "password": "an older password"})
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "TOKEN_INVALID"
    assert api.post("/v1/auth/password-reset/confirm", json={"token": newer, "password": "the newest one"}).ok
    assert api.as_user(email, "the newest one").get("/v1/me").ok


def test_reusing_a_rotated_refresh_token_revokes_its_family(api, make_org):
    _, _, email = make_org()
    first = api.post("/v1/auth/login", json={"email": email, "password": PASSWORD}).json()["refresh_token"]
    second = api.post("/v1/auth/refresh", json={"refresh_token": first})
    assert second.status_code == 200
    replay = api.post("/v1/auth/refresh", json={"refresh_token": first})
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "TOKEN_INVALID"
    revoked = api.post("/v1/auth/refresh", json={"refresh_token": second.json()["refresh_token"]})
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "TOKEN_INVALID"
