"""What an event means in the log, and the rules of one entry, without a database."""
import uuid
from datetime import UTC, datetime

import pytest

from contracts.identity import SIGN_IN_FAILED, SIGN_IN_SUCCEEDED
from contracts.invitations import INVITATIONS_CREATED
from servicekit.config import ConfigError
from services.audit.actions import ACTIONS, actors_named, changes_of, drafts_of
from services.audit.models import GENESIS, AuditCheckpoint, AuditEntry
from services.audit.settings import AuditSettings
from services.audit.tests.support import envelope

ORG_A, ORG_B = str(uuid.uuid4()), str(uuid.uuid4())
USER = str(uuid.uuid4())


def test_changes_name_only_what_changed():
    assert changes_of({"a": 1, "b": 2}, {"a": 1, "b": 3}) == {"b": {"before": 2, "after": 3}}
    assert changes_of(None, {"a": 1}) == {"a": {"before": None, "after": 1}}
    assert changes_of({"a": 1}, {"a": 1}) is None
    assert changes_of({"a": 1}, {"a": 2, "b": 5}, ["a"]) == {"a": {"before": 1, "after": 2}}


def test_a_sign_in_is_in_the_log_of_each_organization_of_the_person():
    event = envelope(SIGN_IN_SUCCEEDED, {"user_id": USER, "email": "ada@x.example", "method": "PASSWORD",
                                         "org_ids": [ORG_A, ORG_B]}, None, actor=None)
    drafts = drafts_of(event)
    assert [d.org_id for d in drafts] == [ORG_A, ORG_B]
    assert {(d.actor_kind, d.actor_id, d.actor_label) for d in drafts} == {("person", USER, "ada@x.example")}


def test_a_refused_sign_in_of_no_account_goes_to_the_platform_and_is_anonymous():
    event = envelope(SIGN_IN_FAILED, {"email": "who@x.example", "user_id": None, "method": "PASSWORD",
                                      "reason": "INVALID_CREDENTIALS", "org_ids": []}, None, actor=None)
    (draft,) = drafts_of(event)
    assert draft.org_id is None and draft.action == "sign_in.failed"
    assert (draft.actor_kind, draft.actor_label) == ("anonymous", "who@x.example")


def test_an_imported_batch_is_the_uploading_admins():
    admin = str(uuid.uuid4())
    event = envelope(INVITATIONS_CREATED, {
        "org_id": ORG_A, "program_id": str(uuid.uuid4()), "program_name": "P", "contract_id": str(uuid.uuid4()),
        "send_email": False, "custom_message": None, "invited_by": admin, "import_id": str(uuid.uuid4()),
        "invitations": [{"invitation_id": str(uuid.uuid4()), "user_id": USER, "email": "l@x.example",
                         "full_name": "L", "external_id": None, "accept_url": None,
                         "expires_at": "2030-01-01T00:00:00+00:00"}]}, ORG_A, actor=None)
    (draft,) = drafts_of(event)
    assert (draft.actor_kind, draft.actor_id) == ("person", admin)
    assert draft.details["emails"] == ["l@x.example"] and draft.details["count"] == 1
    assert ("person", USER, "l@x.example") in actors_named(event)


def test_a_refused_scim_join_is_an_entry_of_the_token_that_made_the_change():
    from contracts.programs import MEMBER_JOIN_REFUSED

    program_id, contract_id = str(uuid.uuid4()), str(uuid.uuid4())
    token = {"kind": "api_token", "id": str(uuid.uuid4())}
    event = envelope(MEMBER_JOIN_REFUSED, {
        "org_id": ORG_A, "program_id": program_id, "user_id": USER, "email": "ada@x.example", "full_name": "Ada",
        "contract_id": contract_id, "code": "LICENSE_LIMIT_REACHED", "message": "no license left", "via": "SCIM",
        "version": 3}, ORG_A, actor=token)
    (draft,) = drafts_of(event)
    assert (draft.org_id, draft.action, draft.target_type, draft.target_id, draft.program_id) == (
        ORG_A, "member.join_refused", "person", USER, program_id)
    assert draft.details == {"code": "LICENSE_LIMIT_REACHED", "message": "no license left", "contract_id": contract_id,
                             "via": "SCIM", "version": 3}
    assert draft.actor_kind is None  # the envelope's actor (the SCIM token) is the entry's


def test_every_audited_event_has_a_distinct_handler_name():
    names = {"on_" + event.type.removesuffix(".v1").replace(".", "_") for event in ACTIONS}
    assert len(names) == len(ACTIONS) >= 33


def entry(**overrides) -> AuditEntry:
    values = dict(id=str(uuid.uuid4()), org_id=ORG_A, seq=1, event_id=str(uuid.uuid4()), event_type="t.v1",
                  action="program.created", occurred_at=datetime(2026, 12, 1, 17, 0, 0, 123456, tzinfo=UTC),
                  recorded_at=datetime(2026, 12, 1, 17, 0, 1, tzinfo=UTC), actor_kind="person", actor_id=USER,
                  actor_label=None, target_type="program", target_id="p", target_label="Zoë", program_id=None,
                  changes={"name": {"before": "a", "after": "b"}}, details=None, request_id="r",
                  client_address="203.0.113.1")
    values.update(overrides)
    made = AuditEntry(**values)
    made.seal(GENESIS)
    return made


def test_the_hash_covers_every_field_and_the_previous_hash():
    base = entry()
    assert len(base.hash) == 64 and base.compute_hash() == base.hash
    for field, value in (("action", "program.removed"), ("actor_id", "someone"), ("client_address", "x"),
                         ("changes", {"name": {"before": "a", "after": "c"}}), ("seq", 2), ("target_label", "Zoe"),
                         ("occurred_at", datetime(2026, 12, 1, 17, 0, 0, 123457, tzinfo=UTC))):
        assert entry(**{"id": base.id, "event_id": base.event_id, field: value}).hash != base.hash, field
    same = entry(id=base.id, event_id=base.event_id)
    same.seal("f" * 64)
    assert same.hash != base.hash
    # the same instant in another zone is the same entry
    other_zone = entry(id=base.id, event_id=base.event_id,
                       occurred_at=base.occurred_at.astimezone(datetime.now().astimezone().tzinfo))
    assert other_zone.hash == base.hash


def test_a_checkpoint_signature_needs_the_key_and_the_values():
    checkpoint = AuditCheckpoint(org_id=ORG_A, through_seq=10, through_hash="a" * 64,
                                 through_occurred_at=datetime(2026, 1, 1, tzinfo=UTC), purged=10,
                                 created_at=datetime(2026, 12, 1, tzinfo=UTC))
    checkpoint.sign("k" * 40)
    assert checkpoint.signed_by("k" * 40) and not checkpoint.signed_by("j" * 40)
    checkpoint.through_seq = 9
    assert not checkpoint.signed_by("k" * 40)


def test_the_checkpoint_secret_is_required_outside_development(monkeypatch):
    monkeypatch.delenv("APP_ENV", raising=False)
    with pytest.raises(ConfigError, match="AUDIT_CHECKPOINT_SECRET"):
        AuditSettings.from_env({})
    with pytest.raises(ConfigError, match="too weak"):
        AuditSettings.from_env({"AUDIT_CHECKPOINT_SECRET": "short"})
    assert AuditSettings.from_env({"AUDIT_CHECKPOINT_SECRET": "x" * 40}).checkpoint_key == "x" * 40
    assert AuditSettings.from_env({"AUDIT_CHECKPOINT_SECRET": "x" * 40, "AUDIT_RETENTION_DAYS": "0"}) \
        .retention_days is None
    with pytest.raises(ConfigError):
        AuditSettings.from_env({"AUDIT_CHECKPOINT_SECRET": "x" * 40, "AUDIT_RETENTION_DAYS": "-1"})


def test_time_filters_postgresql_could_not_take_are_refused():
    from marshmallow import ValidationError

    from contracts.audit import AuditQuerySchema

    for bad in ("0602-07-25T14:57:21.881-20:24", "0001-01-01T00:00:00+01:00", "2026-01-01T00:00:00"):
        with pytest.raises(ValidationError):
            AuditQuerySchema().load({"from": bad})
    loaded = AuditQuerySchema().load({"from": "2026-12-01T18:00:00+01:00", "to": "2026-12-01T17:30:00Z"})
    assert loaded["from_"] == datetime(2026, 12, 1, 17, 0, tzinfo=UTC) and loaded["to"].tzinfo == UTC
