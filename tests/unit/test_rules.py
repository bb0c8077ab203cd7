"""Domain and gateway rules that need no broker or database."""
import pytest

from contracts.envelope import Envelope, make_envelope
from contracts.errors import AppError, ErrorCode
from gateway.auth import Principal
from gateway.http import werkzeug_path
from gateway.statuses import http_status
from servicekit.models import normalize_email

ORG, OTHER = "org-1", "org-2"


def program_admin(*program_ids):
    return Principal(user_id="u", roles=({"role": "PROGRAM_ADMIN", "org_id": ORG, "program_ids": list(program_ids)},))


def org_admin():
    return Principal(user_id="u", roles=({"role": "ORG_ADMIN", "org_id": ORG, "program_ids": []},))


def test_org_admin_reaches_every_program_of_their_org_only():
    admin = org_admin()
    assert admin.can_admin_program(ORG, "any")
    assert not admin.can_admin_program(OTHER, "any")
    assert admin.program_scope(ORG) is None
    with pytest.raises(AppError) as refused:
        admin.require_admin(OTHER)
    assert refused.value.code == ErrorCode.NOT_FOUND


def test_program_admin_is_scoped_to_their_programs():
    admin = program_admin("p1", "p2")
    assert admin.can_admin_program(ORG, "p1") and not admin.can_admin_program(ORG, "p3")
    assert admin.program_scope(ORG) == ["p1", "p2"]
    with pytest.raises(AppError) as forbidden:
        admin.require_org_admin(ORG)
    assert forbidden.value.code == ErrorCode.FORBIDDEN  # their org: 403, not 404
    with pytest.raises(AppError) as hidden:
        admin.require_program_admin(ORG, "p3")
    assert hidden.value.code == ErrorCode.NOT_FOUND


def test_learner_without_roles_is_no_admin():
    learner = Principal(user_id="u")
    assert not learner.is_admin(ORG)
    with pytest.raises(AppError):
        learner.program_scope(ORG)


def test_machine_scopes():
    token = Principal(user_id=None, api_token_id="t", api_org_id=ORG, scopes=frozenset({"activity:write"}))
    token.require_scope("activity:write")
    with pytest.raises(AppError) as refused:
        token.require_scope("people:write")
    assert http_status(refused.value.code) == 403


def test_error_codes_map_to_the_statuses_of_the_api_contract():
    assert http_status(ErrorCode.INVALID_INPUT) == 400
    assert http_status(ErrorCode.TOKEN_EXPIRED) == 401
    assert http_status(ErrorCode.NOT_FOUND) == 404
    assert http_status(ErrorCode.DUPLICATE_INVITATION) == 409
    assert http_status(ErrorCode.LICENSE_LIMIT_REACHED) == 422
    assert http_status(ErrorCode.TOO_MANY_REQUESTS) == 429
    assert http_status(ErrorCode.SERVICE_UNAVAILABLE) == 503


def test_app_error_keeps_typed_details_through_its_args():
    error = AppError(ErrorCode.TOO_MANY_REQUESTS, "slow down", {"retry_after_seconds": 12})
    rebuilt = AppError(*error.args)  # what nameko does on the calling side
    assert rebuilt.details == {"retry_after_seconds": 12} and rebuilt.code == "TOO_MANY_REQUESTS"


def test_events_are_validated_against_their_contract():
    with pytest.raises(ValueError):
        make_envelope("identity.admin.revoked.v1", {"admin_id": "a"}, source="identity")
    envelope = make_envelope("identity.user.email_verified.v1", {"user_id": "u", "email": "a@b.co"},
                             source="identity", org_id=None, correlation_id="c-1")
    loaded = Envelope.load(envelope)
    assert loaded.payload == {"user_id": "u", "email": "a@b.co"} and loaded.correlation_id == "c-1"
    with pytest.raises(AppError) as invalid:
        Envelope.load({**envelope, "type": "not a type"})
    assert invalid.value.code == ErrorCode.INVALID_EVENT


def test_emails_compare_trimmed_and_case_insensitively():
    assert normalize_email("  Ada.Admin@Example.COM ") == "ada.admin@example.com"


def test_api_paths_become_werkzeug_rules():
    assert werkzeug_path("/v1/orgs/{org_id}/admins/{admin_id}") == "/v1/orgs/<org_id>/admins/<admin_id>"


def test_event_payloads_are_what_the_schema_dumps():
    """make_envelope skips the (slow) marshmallow dump: its payload must be the same."""
    from contracts.registry import payload_schema

    cases = {
        "invitations.invitations.created.v1": {
            "import_id": "i", "org_id": "o", "program_id": "p", "program_name": "P", "contract_id": "c",
            "send_email": True, "custom_message": None, "invited_by": None,
            "invitations": [{"invitation_id": "v", "user_id": "u", "email": "a@b.co", "full_name": "A",
                             "external_id": None, "accept_url": "https://x/accept?token=t",
                             "expires_at": "2026-12-01T10:00:00.123000+00:00"},
                            {"invitation_id": "w", "user_id": "u2", "email": "c@d.co", "full_name": "C",
                             "external_id": "X", "accept_url": None,
                             "expires_at": "2026-12-02T10:00:00+00:00"}]},
        "programs.contract.created.v1": {
            "contract_id": "c", "org_id": "o", "name": "C", "license_count": 3, "starts_on": "2026-01-01",
            "ends_on": "2026-12-31"},
        "identity.profiles.updated.v1": {
            "org_id": "o", "people": [{"user_id": "u", "org_id": "o", "email": "a@b.co", "full_name": "A",
                                       "external_id": "E1", "manager_email": None}]},
    }
    for event_type, payload in cases.items():
        schema = payload_schema(event_type)
        assert make_envelope(event_type, payload, source="t")["payload"] == schema.dump(schema.load(payload))


def test_batch_events_check_their_first_item_and_every_item_shape():
    item = {"user_id": "u", "email": "a@b.co", "full_name": "A"}
    ok = make_envelope("identity.users.registered.v1", {"via": "INVITATION", "users": [item, {**item, "user_id": "v"}]},
                       source="identity")
    assert [u["user_id"] for u in ok["payload"]["users"]] == ["u", "v"]
    with pytest.raises(ValueError, match="does not match"):  # the first item is validated
        make_envelope("identity.users.registered.v1", {"via": "INVITATION", "users": [{**item, "email": "nope"}]},
                      source="identity")
    with pytest.raises(ValueError, match="first one's fields"):  # the others must have its shape
        make_envelope("identity.users.registered.v1", {"via": "INVITATION", "users": [item, {"user_id": "v"}]},
                      source="identity")


def test_bulk_envelopes_check_the_first_payload_and_every_shape():
    from contracts.envelope import make_envelopes

    payload = {"user_id": "u", "email": "a@b.co"}
    items = [(payload, "o1"), ({**payload, "user_id": "v"}, None)]
    envelopes = make_envelopes("identity.user.email_verified.v1", items, source="identity", correlation_id="c")
    assert [e["payload"]["user_id"] for e in envelopes] == ["u", "v"]
    assert [e["org_id"] for e in envelopes] == ["o1", None] and len({e["id"] for e in envelopes}) == 2
    with pytest.raises(ValueError, match="does not match"):
        make_envelopes("identity.user.email_verified.v1", [({"user_id": "u"}, None)], source="identity")
    with pytest.raises(ValueError, match="first one's fields"):
        make_envelopes("identity.user.email_verified.v1", [(payload, None), ({"user_id": "v"}, None)],
                       source="identity")
