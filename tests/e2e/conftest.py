import uuid

import pytest
import requests

from servicekit.standalone import unit_of_work
from tests.support.suite import Suite


@pytest.fixture(scope="session")
def suite(tmp_path_factory):
    running = Suite(tmp_path_factory.mktemp("suite")).start()
    yield running
    running.stop()


class Api:
    """requests against the gateway, with an optional bearer token."""

    def __init__(self, base_url: str, token: str | None = None):
        self.base_url = base_url
        self.token = token
        self.http = requests.Session()

    def request(self, method: str, path: str, **kwargs):
        headers = kwargs.pop("headers", {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return self.http.request(method, self.base_url + path, headers=headers, timeout=30, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def as_user(self, email: str, password: str) -> "Api":
        response = self.post("/v1/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return Api(self.base_url, response.json()["access_token"])


@pytest.fixture(scope="session")
def api(suite) -> Api:
    return Api(suite.base_url)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_org(suite, api, name: str | None = None):
    """An organization with an org admin: (org_id, admin Api, admin email)."""
    from services.identity.commands.organizations import create_org_with_admin

    name = name or unique("Org")
    email = f"{unique('admin')}@example.com"
    with unit_of_work("identity", suite.database_url("identity")) as uow:
        result = create_org_with_admin(uow, name, email, "Ada Admin", "correct horse battery")
    return result["org_id"], api.as_user(email, "correct horse battery"), email


def outbox_payload(suite, event_type: str, email: str) -> dict:
    """The payload of identity's latest event of `event_type` for `email` (from its outbox)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(suite.database_url("identity"))
    with engine.connect() as conn:
        payload = conn.execute(
            text("SELECT envelope->'payload' FROM kit_outbox WHERE event_type = :t "
                 "AND envelope->'payload'->>'email' = :e ORDER BY id DESC LIMIT 1"),
            {"t": event_type, "e": email.lower()},
        ).scalar_one()
    engine.dispose()
    return payload


def verification_token(suite, email: str) -> str:
    """The token of the latest verification link sent to `email`."""
    return outbox_payload(suite, "identity.user.verification_requested.v1", email)["verify_url"].split("token=")[1]


def verified_signup(suite, api, email: str, full_name: str, password: str) -> dict:
    """Sign up and use the emailed verification link, as a learner does before
    signing in (login answers 403 EMAIL_NOT_VERIFIED until then). The new user."""
    created = api.post("/v1/auth/signup", json={"email": email, "full_name": full_name, "password": password})
    assert created.status_code == 201, created.text
    verified = api.post("/v1/auth/verify-email", json={"token": verification_token(suite, email)})
    assert verified.status_code == 200, verified.text
    return created.json()


def add_admin(admin, org_id: str, email: str, full_name: str, role: str = "ORG_ADMIN", **more) -> dict:
    """POST /v1/orgs/{org_id}/admins as `admin`, which must answer 201; the admin it answers."""
    added = admin.post(f"/v1/orgs/{org_id}/admins", json={"email": email, "full_name": full_name, "role": role, **more})
    assert added.status_code == 201, added.text
    return added.json()


@pytest.fixture
def make_org(suite, api):
    """Create an organization with an org admin; returns (org_id, admin Api, admin email)."""
    return lambda name=None: create_org(suite, api, name)
