"""An invitation link is not a login: accepting it for an account that
already has a password takes that password or a live session of that
account (issue 11, item 4)."""
from tests.e2e.conftest import Api, unique
from tests.e2e.test_invitations import PASSWORD, inv_db, invite, link_token, setup_program

__all__ = ["inv_db"]  # the module fixture, shared


def test_accepting_for_an_account_with_a_password_takes_the_password_or_its_session(api, make_org, inv_db):
    org_id, admin, _ = make_org()
    programs = [setup_program(admin, org_id) for _ in range(3)]
    email = f"{unique('owner')}@example.com"
    links = [link_token(inv_db, invite(admin, program, contract, email).json()["id"]) for program, contract in programs]

    first = api.post("/v1/invitations/accept", json={"token": links[0], "password": PASSWORD})
    assert first.status_code == 200, first.text  # a new account: the link proves the address, the password is set
    owner = Api(api.base_url, first.json()["access_token"])

    for attempt in ({"token": links[1]}, {"token": links[1], "password": "not the password at all"}):
        refused = api.post("/v1/invitations/accept", json=attempt)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "INVALID_CREDENTIALS", refused.text
    someone_else = admin.post("/v1/invitations/accept", json={"token": links[1]})  # signed in, as another account
    assert someone_else.status_code == 401, someone_else.text

    with_password = api.post("/v1/invitations/accept", json={"token": links[1], "password": PASSWORD})
    assert with_password.status_code == 200, with_password.text
    signed_in = owner.post("/v1/invitations/accept", json={"token": links[2]})
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["membership"]["user_id"] == first.json()["membership"]["user_id"]
