"""Issue 11 (item 1) through the gateway: signing up with an address first does
not capture what an organization later grants that address."""
from tests.e2e.conftest import unique


def test_a_presigned_address_made_admin_does_not_let_the_squatter_in(api, make_org):
    org_id, admin, _ = make_org()
    email = f"{unique('new.cfo')}@example.com"
    squatter = {"email": email, "password": "the squatter's password"}
    assert api.post("/v1/auth/signup", json={**squatter, "full_name": "Not The CFO"}).status_code == 201
    stolen = api.post("/v1/auth/login", json=squatter).json()["refresh_token"]

    granted = admin.post(f"/v1/orgs/{org_id}/admins", json={"email": email, "full_name": "The CFO",
                                                            "role": "ORG_ADMIN"})
    assert granted.status_code == 201, granted.text

    refused = api.post("/v1/auth/login", json=squatter)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "INVALID_CREDENTIALS"
    assert api.post("/v1/auth/refresh", json={"refresh_token": stolen}).status_code == 401
