"""invitations events and RPC payloads (filled in by the invitations service)."""


# defined by programs; invitations owns this file
# (payloads exactly as docs/integration.md lists them; programs consumes these three)
from enum import StrEnum as _StrEnum  # noqa: E402

from marshmallow import Schema as _Schema  # noqa: E402
from marshmallow import fields as _fields  # noqa: E402
from marshmallow import validate as _validate  # noqa: E402

from contracts.common import PageQuerySchema as _PageQuerySchema  # noqa: E402
from contracts.common import email_field as _email_field  # noqa: E402
from contracts.common import name_field as _name_field  # noqa: E402
from contracts.common import text_field as _text_field  # noqa: E402
from contracts.common import values as _values  # noqa: E402
from contracts.fields import Id as _Id  # noqa: E402
from contracts.registry import Event as _Event  # noqa: E402


class RevokeReason(_StrEnum):
    ADMIN = "ADMIN"
    MEMBER_REMOVED = "MEMBER_REMOVED"
    PROGRAM_REMOVED = "PROGRAM_REMOVED"



class CreatedItem(_Schema):
    """One created invitation, as an import's batch event lists it."""
    invitation_id = _fields.String(required=True)
    user_id = _fields.String(required=True)
    email = _fields.String(required=True)
    full_name = _fields.String(required=True)
    external_id = _fields.String(allow_none=True)
    accept_url = _fields.String(allow_none=True)
    expires_at = _fields.AwareDateTime(required=True)


class InvitationsTo(_Schema):
    """What invitations created together share: the program, contract and email."""
    org_id = _fields.String(required=True)
    program_id = _fields.String(required=True)
    program_name = _fields.String(required=True)
    contract_id = _fields.String(required=True)
    send_email = _fields.Boolean(required=True)
    custom_message = _fields.String(allow_none=True)
    invited_by = _fields.String(allow_none=True)


class InvitationCreated(CreatedItem, InvitationsTo):
    pass


INVITATION_CREATED = _Event("invitations.invitation.created.v1", InvitationCreated)


class InvitationsCreated(InvitationsTo):
    """Many invitations to one program created by a CSV import: what
    invitations.invitation.created.v1 says of one, with the shared fields once."""
    import_id = _fields.String(required=True)
    invitations = _fields.List(_fields.Nested(CreatedItem), required=True)


INVITATIONS_CREATED = _Event("invitations.invitations.created.v1", InvitationsCreated, batch_of="invitations")


class InvitationEvent(_Schema):
    """What every event about one invitation carries."""
    invitation_id = _fields.String(required=True)
    org_id = _fields.String(required=True)
    program_id = _fields.String(required=True)
    user_id = _fields.String(required=True)
    email = _fields.String(required=True)


class InvitationRevoked(InvitationEvent):
    reason = _fields.String(required=True, validate=_validate.OneOf(_values(RevokeReason)))


INVITATION_REVOKED = _Event("invitations.invitation.revoked.v1", InvitationRevoked)


class InvitationExpired(InvitationEvent):
    pass


INVITATION_EXPIRED = _Event("invitations.invitation.expired.v1", InvitationExpired)


# defined by messaging; invitations owns this file
# (payloads exactly as docs/integration.md lists them; messaging consumes these two)
class InvitationResent(InvitationEvent):
    program_name = _fields.String(required=True)
    full_name = _fields.String(required=True)
    accept_url = _fields.String(required=True)
    custom_message = _fields.String(allow_none=True)
    expires_at = _fields.AwareDateTime(required=True)


INVITATION_RESENT = _Event("invitations.invitation.resent.v1", InvitationResent)


class InvitationAccepted(InvitationEvent):
    accepted_at = _fields.AwareDateTime(required=True)


INVITATION_ACCEPTED = _Event("invitations.invitation.accepted.v1", InvitationAccepted)


# ---- defined by invitations: the import event and RPC payloads -----------------

class InvitationState(_StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"


class ImportStatus(_StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


INVITATION_STATES = _values(InvitationState)
IMPORT_STATUSES = _values(ImportStatus)


class ImportCounts(_Schema):
    """Which import, into which program and contract, and its row counts."""
    import_id = _fields.String(required=True)
    program_id = _fields.String(required=True)
    contract_id = _fields.String(required=True)
    total_rows = _fields.Integer(required=True)
    created = _fields.Integer(required=True)
    duplicates = _fields.Integer(required=True)
    invalid = _fields.Integer(required=True)


class ImportCompleted(ImportCounts):
    org_id = _fields.String(required=True)


IMPORT_COMPLETED = _Event("invitations.import.completed.v1", ImportCompleted, public=True)


class ImportStarted(_Schema):
    """An admin uploaded a CSV of invitations (the audit log's; the rows are
    announced by invitations.invitations.created.v1 as they are processed)."""
    import_id = _fields.String(required=True)
    org_id = _fields.String(required=True)
    program_id = _fields.String(required=True)
    program_name = _fields.String(required=True)
    contract_id = _fields.String(required=True)
    filename = _fields.String(allow_none=True)
    size_bytes = _fields.Integer(required=True)
    total_rows = _fields.Integer(required=True)
    send_email = _fields.Boolean(required=True)
    invited_by = _fields.String(allow_none=True)


IMPORT_STARTED = _Event("invitations.import.started.v1", ImportStarted)


class InvitationFieldsSchema(_Schema):
    """The person to invite (a preview takes just this)."""
    program_id = _Id(required=True, not_found="program")
    contract_id = _Id(required=True, not_found="contract")
    full_name = _name_field(required=True)
    email = _email_field(required=True)
    external_id = _text_field(200, allow_none=True, load_default=None)


class NewInvitationSchema(InvitationFieldsSchema):
    send_email = _fields.Boolean(load_default=True, metadata={
        "description": "true: 'Send invitation' (emailed now); false: 'Create invitation' (no email)"})


class InvitationQuerySchema(_PageQuerySchema):
    state = _fields.String(load_default=None, allow_none=True, validate=_validate.OneOf(INVITATION_STATES))


class InvitationSchema(_Schema):
    id = _fields.String(required=True)
    org_id = _fields.String(required=True)
    program_id = _fields.String(required=True)
    contract_id = _fields.String(required=True)
    user_id = _fields.String(required=True)
    email = _fields.String(required=True)
    full_name = _fields.String(required=True)
    external_id = _fields.String(allow_none=True)
    state = _fields.String(required=True, validate=_validate.OneOf(INVITATION_STATES))
    send_email = _fields.Boolean()
    invited_by = _fields.String(allow_none=True)
    import_id = _fields.String(allow_none=True)
    created_at = _fields.AwareDateTime()
    expires_at = _fields.AwareDateTime()
    last_sent_at = _fields.AwareDateTime(allow_none=True)
    send_count = _fields.Integer()
    closed_at = _fields.AwareDateTime(allow_none=True, metadata={"description": "accepted, revoked or expired at"})
    close_reason = _fields.String(allow_none=True)


class ImportSchema(ImportCounts):
    filename = _fields.String(allow_none=True)
    status = _fields.String(required=True, validate=_validate.OneOf(IMPORT_STATUSES))
    error = _fields.String(allow_none=True)
    processed_rows = _fields.Integer(required=True, metadata={"description": "rows done so far"})
    created_at = _fields.AwareDateTime()
    completed_at = _fields.AwareDateTime(allow_none=True)


class EmailPreviewSchema(_Schema):
    subject = _fields.String(required=True)
    text = _fields.String(required=True)
    custom_message = _fields.String(allow_none=True)


class PreviewSchema(_Schema):
    learner = _fields.Dict(required=True, metadata={"description": "full_name, email, external_id"})
    program = _fields.Dict(required=True, metadata={"description": "id, name, slug"})
    contract = _fields.Dict(required=True, metadata={"description": "id, name, licenses_free"})
    organization = _fields.Dict(required=True, metadata={"description": "id, name, brand_color, logo_url"})
    email = _fields.Nested(EmailPreviewSchema, required=True)
    warnings = _fields.List(_fields.String(), metadata={"description": "e.g. DUPLICATE_INVITATION, ALREADY_MEMBER"})


class InvitationPageSchema(_Schema):
    """What GET /v1/invitations/by-token/{token} shows: nothing but the program and branding."""

    program_name = _fields.String(required=True)
    organization_name = _fields.String(required=True)
    brand_color = _fields.String(allow_none=True)
    logo_url = _fields.String(allow_none=True)
    banner_url = _fields.String(allow_none=True)
    custom_message = _fields.String(allow_none=True)
    state = _fields.String(required=True, validate=_validate.OneOf(INVITATION_STATES))
    expires_at = _fields.AwareDateTime()


class AcceptedSchema(_Schema):
    access_token = _fields.String(required=True)
    refresh_token = _fields.String(required=True)
    expires_in = _fields.Integer(required=True)
    token_type = _fields.String(dump_default="Bearer")
    program_id = _fields.String(required=True)
    invitation_id = _fields.String(required=True)
    membership = _fields.Dict()


# The bulk-invitation file's header row (GET /v1/invitations/template.csv).
CSV_TEMPLATE = "Full Name,Email,External ID\r\n"
MAX_IMPORT_BYTES = 20 * 1024 * 1024
