"""identity's events for the audit log: sign-ins (a refused one kept although
the login is refused), API tokens created and revoked, and the before of
changed settings and profiles."""
import uuid

import pytest
from sqlalchemy import create_engine, text

from contracts.errors import AppError
from servicekit import config
from servicekit.standalone import unit_of_work
from services.identity.tests.conftest import new_org

PASSWORD = "correct horse battery"


def payloads(event_type: str, **where) -> list[dict]:
    engine = create_engine(config.database_url("identity"))
    clause = "".join(f" AND envelope->'payload'->>'{key}' = :{key}" for key in where)
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT envelope->'payload' FROM kit_outbox WHERE event_type = :t{clause} "
                                 "ORDER BY id"), {"t": event_type, **where}).scalars().all()
    engine.dispose()
    return rows


def org_with_admin() -> tuple[str, str, str]:
    from services.identity.commands.organizations import create_org_with_admin

    email = f"adm-{uuid.uuid4().hex[:8]}@example.com"
    with unit_of_work("identity") as uow:
        made = create_org_with_admin(uow, f"Org {uuid.uuid4().hex[:6]}", email, "Ada", PASSWORD)
    return made["org_id"], made["admin_user_id"], email


def test_sign_ins_succeeded_and_refused_are_published(identity):
    org_id, user_id, email = org_with_admin()
    identity.login(email, PASSWORD, client="198.51.100.7")
    with pytest.raises(AppError) as refused:
        identity.login(email, "wrong password here", client="198.51.100.7")
    assert refused.value.code == "INVALID_CREDENTIALS"
    with pytest.raises(AppError):
        identity.login(f"nobody-{uuid.uuid4().hex[:6]}@example.com", "whatever it is", client="198.51.100.7")
    (ok,) = payloads("identity.sign_in.succeeded.v1", email=email)
    assert ok["user_id"] == user_id and ok["org_ids"] == [org_id] and ok["method"] == "PASSWORD"
    (failed,) = payloads("identity.sign_in.failed.v1", email=email)
    assert failed["user_id"] == user_id and failed["org_ids"] == [org_id]
    assert failed["reason"] == "INVALID_CREDENTIALS"


def test_a_refused_single_sign_on_answer_is_published(identity):
    """sso/signin.py records its refusals through the unit of work (publish_independently), kept
    although the answer is refused, like the password login's above."""
    org_id, _, _ = org_with_admin()
    connection = identity.create_sso_connection(org_id, {
        "kind": "OIDC", "name": "Okta", "issuer": "https://idp.example", "client_id": "c",
        "client_secret": "the client secret"})
    with pytest.raises(AppError) as refused:
        identity.finish_oidc(f"{connection['id']}.not-a-state", "code", None, client="198.51.100.8")
    assert refused.value.code == "SSO_FAILED"
    (failed,) = [p for p in payloads("identity.sign_in.failed.v1", method="OIDC") if p["org_ids"] == [org_id]]
    assert failed["reason"] == "STATE_INVALID" and failed["email"] == "" and failed["user_id"] is None


def test_api_tokens_created_and_revoked_are_published_without_the_secret(identity):
    org_id = new_org(identity)
    created = identity.create_api_token(org_id, "siem", ["audit:read"], None)
    identity.revoke_api_token(org_id, created["id"])
    identity.revoke_api_token(org_id, created["id"])  # twice changes nothing
    (made,) = payloads("identity.api_token.created.v1", token_id=created["id"])
    assert made["scopes"] == ["audit:read"] and made["name"] == "siem"
    assert created["token"] not in str(made)
    assert len(payloads("identity.api_token.revoked.v1", token_id=created["id"])) == 1


def test_changed_settings_and_profiles_carry_their_before(identity):
    org_id = new_org(identity)
    before = identity.get_organization(org_id)["name"]
    identity.update_organization(org_id, {"name": "Renamed"})
    (changed,) = payloads("identity.org.updated.v1", org_id=org_id)
    assert changed["changed"] == ["name"] and changed["previous"] == {"name": before}
    person = identity.ensure_person(org_id, {"email": f"p-{uuid.uuid4().hex[:6]}@example.com", "full_name": "Pat"})
    identity.update_person(org_id, person["user_id"], {"job_title": "Analyst"})
    last = payloads("identity.profile.updated.v1", user_id=person["user_id"])[-1]
    assert last["previous"] == {"job_title": None} and last["job_title"] == "Analyst"
