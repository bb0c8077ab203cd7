"""messaging: events it publishes and the payloads of its RPC methods."""
from enum import StrEnum

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from contracts.common import name_field, values
from contracts.fields import CatalogId, Id, MultiLineText, StrictInteger
from contracts.registry import Event


class Preset(StrEnum):
    ALL_MEMBERS = "ALL_MEMBERS"
    INVITED_NOT_JOINED = "INVITED_NOT_JOINED"
    JOINED_NOT_ENROLLED = "JOINED_NOT_ENROLLED"
    CUSTOM = "CUSTOM"
    # Activity-based presets: listed, resolved once the reporting service feeds activity.
    INACTIVE_FOR_DAYS = "INACTIVE_FOR_DAYS"
    COMPLETED_COURSE = "COMPLETED_COURSE"


class MessageState(StrEnum):
    DRAFT = "DRAFT"
    SENDING = "SENDING"
    SENT = "SENT"
    DISCARDED = "DISCARDED"


class ContentFormat(StrEnum):
    TEXT = "TEXT"
    MARKDOWN = "MARKDOWN"


class DeliveryState(StrEnum):
    QUEUED = "QUEUED"
    CLAIMED = "CLAIMED"
    SENDING = "SENDING"
    SENT = "SENT"
    FAILED = "FAILED"
    SUPPRESSED = "SUPPRESSED"


class EmailCategory(StrEnum):
    """Account emails and the invitation are always sent; the others obey opt-outs."""
    ACCOUNT = "ACCOUNT"
    INVITATION = "INVITATION"
    PROGRAM = "PROGRAM"
    COURSE = "COURSE"


FUTURE_PRESETS = (Preset.INACTIVE_FOR_DAYS.value, Preset.COMPLETED_COURSE.value)
PRESETS = tuple(preset for preset in values(Preset) if preset not in FUTURE_PRESETS)
MESSAGE_STATES = values(MessageState)
CONTENT_FORMATS = values(ContentFormat)
DELIVERY_STATES = values(DeliveryState)
ID_LIST = fields.List(Id(), load_default=list, validate=validate.Length(max=1000))
CATALOG_ID_LIST = fields.List(CatalogId(), load_default=list, validate=validate.Length(max=1000))


class AudienceFilters(Schema):
    """Narrow a preset: any of these programs / contracts / current course enrollments."""

    program_ids = ID_LIST
    contract_ids = ID_LIST
    course_ids = CATALOG_ID_LIST


class AudienceSchema(Schema):
    preset = fields.String(required=True, validate=validate.OneOf(PRESETS + FUTURE_PRESETS))
    filters = fields.Nested(AudienceFilters, load_default=dict)
    user_ids = fields.List(Id(), load_default=list,
                           validate=validate.Length(max=10_000),
                           metadata={"description": "the people of a CUSTOM audience"})
    days = StrictInteger(allow_none=True, load_default=None, validate=validate.Range(1, 3650),
                          metadata={"description": "INACTIVE_FOR_DAYS (not available yet)"})

    @validates_schema
    def custom_needs_people(self, data, **kwargs):
        if data.get("preset") == "CUSTOM" and not data.get("user_ids"):
            raise ValidationError("a CUSTOM audience lists at least one person", "user_ids")


class CtaSchema(Schema):
    label = name_field(80, required=True)
    url = fields.Url(required=True, schemes={"https"}, validate=validate.Length(max=2000),
                     error_messages={"invalid": "must be an https URL"})


class MessageFieldsSchema(Schema):
    """What an admin writes; every field optional on update."""

    audience = fields.Nested(AudienceSchema)
    subject = name_field(200)
    content = MultiLineText(max_length=50_000)
    content_format = fields.String(validate=validate.OneOf(CONTENT_FORMATS))
    cta = fields.Nested(CtaSchema, allow_none=True)
    sender_name = name_field(100, allow_none=True)
    reply_to = fields.Boolean(metadata={"description": "true: replies go to the admin; false: to a no-reply address"})


class NewMessageSchema(MessageFieldsSchema):
    audience = fields.Nested(AudienceSchema, required=True)
    subject = name_field(200, required=True)
    content = MultiLineText(max_length=50_000, required=True)
    content_format = fields.String(load_default="TEXT", validate=validate.OneOf(CONTENT_FORMATS))
    reply_to = fields.Boolean(load_default=True)


class AuthorSchema(Schema):
    user_id = fields.String(required=True)
    email = fields.Email(required=True)
    full_name = fields.String(required=True)


class MessageCounts(Schema):
    recipients = fields.Integer()
    queued = fields.Integer()
    sent = fields.Integer()
    suppressed = fields.Integer()
    failed = fields.Integer()


class MessageSchema(MessageFieldsSchema):
    id = fields.String(required=True)
    org_id = fields.String(required=True)
    state = fields.String(validate=validate.OneOf(MESSAGE_STATES))
    created_by = fields.String()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    sent_at = fields.AwareDateTime(allow_none=True)
    counts = fields.Nested(MessageCounts, allow_none=True)


class PreviewSchema(Schema):
    subject = fields.String()
    html = fields.String()
    text = fields.String()
    headers = fields.Dict(keys=fields.String(), values=fields.String())


class PresetSchema(Schema):
    name = fields.String()
    label = fields.String()
    available = fields.Boolean()
    needs = fields.List(fields.String())


class PreferencesSchema(Schema):
    program_messages = fields.Boolean(metadata={"description": "program announcements, welcomes, reminders"})
    course_announcements = fields.Boolean(metadata={"description": "course and specialization emails"})


class UnsubscribeResultSchema(Schema):
    email = fields.String()
    category = fields.String()
    unsubscribed = fields.Boolean()


# ---- events -------------------------------------------------------------


class MessageSent(Schema):
    """Every delivery of an admin message reached a final state."""

    message_id = fields.String(required=True)
    org_id = fields.String(required=True)
    recipients = fields.Integer(required=True)
    sent = fields.Integer(required=True)
    suppressed = fields.Integer(required=True)
    failed = fields.Integer(required=True)


MESSAGE_SENT = Event("messaging.message.sent.v1", MessageSent, public=True)


class DeliveryFailed(Schema):
    delivery_id = fields.String(required=True)
    org_id = fields.String(allow_none=True)
    email = fields.String(required=True)
    template = fields.String(required=True)
    error = fields.String(required=True)


DELIVERY_FAILED = Event("messaging.delivery.failed.v1", DeliveryFailed, public=True)


class MessageAction(Schema):
    """An admin's action on a message: a draft written, changed or discarded,
    or sending started (the audit log's; the deliveries' outcome is
    messaging.message.sent.v1)."""
    message_id = fields.String(required=True)
    org_id = fields.String(required=True)
    subject = fields.String(required=True)
    audience = fields.Dict(required=True)
    program_ids = fields.List(fields.String(), allow_none=True,
                              metadata={"description": "the programs a program admin's message is limited to"})
    changes = fields.Dict(allow_none=True, metadata={"description": "updated: {field: {before, after}}"})
    recipients = fields.Integer(allow_none=True, metadata={"description": "send requested: deliveries queued"})


MESSAGE_DRAFTED = Event("messaging.message.drafted.v1", MessageAction)
MESSAGE_UPDATED = Event("messaging.message.updated.v1", MessageAction)
MESSAGE_DISCARDED = Event("messaging.message.discarded.v1", MessageAction)
MESSAGE_SEND_REQUESTED = Event("messaging.message.send_requested.v1", MessageAction)


class ReminderRequested(Schema):
    """An admin asked to remind a program's members who have not enrolled."""
    org_id = fields.String(required=True)
    program_id = fields.String(required=True)
    program_name = fields.String(required=True)
    recipients = fields.Integer(required=True)
    queued = fields.Integer(required=True)
    suppressed = fields.Integer(required=True)


REMINDER_REQUESTED = Event("messaging.reminder.requested.v1", ReminderRequested)
