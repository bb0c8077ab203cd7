"""Issue 11 (item 10) through the gateway: a removed role, a password reset and
a logout everywhere stop the user's live access tokens within the gateway's
token-version cache window, not at their expiry 15 minutes later."""
import time

from gateway.auth import TOKEN_VERSION_CACHE_SECONDS
from tests.e2e.conftest import Api, add_admin, unique
from tests.e2e.test_identity import first_password_token

PASSWORD = "correct horse battery"


def _refused_within_cache_window(client: Api, path: str):
    """The first answer other than 200, polling a little past the cache window."""
    deadline = time.monotonic() + TOKEN_VERSION_CACHE_SECONDS + 3
    while True:
        response = client.get(path)
        if response.status_code != 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.25)


def _assert_revoked(response):
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "TOKEN_REVOKED"


def test_a_removed_admins_old_token_is_refused_within_the_cache_window(api, suite, make_org):
    org_id, admin, _ = make_org()
    email = f"{unique('demoted')}@example.com"
    added = add_admin(admin, org_id, email, "Dee Moted")
    set_password = api.post("/v1/auth/password-reset/confirm",
                            json={"token": first_password_token(suite, email), "password": PASSWORD})
    assert set_password.status_code == 200, set_password.text
    demoted = api.as_user(email, PASSWORD)
    assert demoted.get(f"/v1/orgs/{org_id}/admins").status_code == 200

    assert admin.delete(f"/v1/orgs/{org_id}/admins/{added['id']}").status_code == 204

    _assert_revoked(_refused_within_cache_window(demoted, f"/v1/orgs/{org_id}/admins"))
    # the admin who removed them is untouched; signing in again gives a token without the role
    assert admin.get(f"/v1/orgs/{org_id}/admins").status_code == 200
    again = api.as_user(email, PASSWORD)
    assert again.get("/v1/me").status_code == 200
    assert again.get(f"/v1/orgs/{org_id}/admins").status_code == 404


def test_a_password_reset_kills_old_access_tokens(api, suite, make_org):
    _, admin, email = make_org()
    assert admin.get("/v1/me").status_code == 200
    assert api.post("/v1/auth/password-reset", json={"email": email}).status_code == 202
    reset_token = first_password_token(suite, email)
    new_password = "a brand new passphrase"
    confirmed = api.post("/v1/auth/password-reset/confirm", json={"token": reset_token, "password": new_password})
    assert confirmed.status_code == 200, confirmed.text

    _assert_revoked(_refused_within_cache_window(admin, "/v1/me"))
    assert api.as_user(email, new_password).get("/v1/me").status_code == 200


def test_logout_everywhere_kills_access_tokens_and_a_plain_logout_does_not(api, make_org):
    _, _, email = make_org()
    tokens = api.post("/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
    other_device = api.as_user(email, PASSWORD)
    session = Api(api.base_url, tokens["access_token"])

    assert api.post("/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}).status_code == 204
    time.sleep(TOKEN_VERSION_CACHE_SECONDS + 0.5)
    assert other_device.get("/v1/me").status_code == 200

    second = api.post("/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
    everywhere = api.post("/v1/auth/logout", json={"refresh_token": second["refresh_token"], "everywhere": True})
    assert everywhere.status_code == 204
    _assert_revoked(_refused_within_cache_window(other_device, "/v1/me"))
    _assert_revoked(session.get("/v1/me"))
    assert api.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401
