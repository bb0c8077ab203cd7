"""audit: the audit log's RPC payloads. The log publishes no events: it is
built from every other service's events (docs/audit.md)."""
from datetime import UTC, datetime

from marshmallow import Schema, ValidationError, fields, validate

from contracts.common import PageQuerySchema, text_field
from contracts.fields import Id

ACTOR_KINDS = ("person", "api_token", "anonymous", "system")
# "anonymous": not signed in (a refused sign-in; the label is the address tried); "system": no one acted (a timer)
MAX_EXPORT_ROWS = 100_000


class Instant(fields.AwareDateTime):
    """A point in time with an offset, answered in UTC; refused (400) when
    PostgreSQL could not take it (an offset beyond ±15:59, a year out of range)."""

    def _deserialize(self, value, attr, data, **kwargs):
        parsed = super()._deserialize(value, attr, data, **kwargs)
        offset = parsed.utcoffset()
        try:
            if offset is None or abs(offset.total_seconds()) >= 16 * 3600:
                raise ValueError("offset")
            utc = parsed.astimezone(UTC)
        except (ValueError, OverflowError):
            raise ValidationError("not a valid time: an ISO 8601 time with an offset of at most ±15:59") from None
        if not datetime(1900, 1, 1, tzinfo=UTC) <= utc < datetime(9000, 1, 1, tzinfo=UTC):
            raise ValidationError("must be between the years 1900 and 9000")
        return utc


class AuditQuerySchema(PageQuerySchema):
    """Filters of the log (every one optional): the actor (a person's or an
    API token's id), the action (`program.updated`, or a prefix ending in `.`:
    `program.`), the target (an id), and the time window [from, to)."""
    actor = text_field(64, load_default=None, allow_none=True)
    action = text_field(100, load_default=None, allow_none=True,
                        validate=validate.Regexp(r"^[a-z_]+(\.[a-z_]*)*$"))
    target = text_field(200, load_default=None, allow_none=True)
    from_ = Instant(data_key="from", load_default=None, allow_none=True,
                                 metadata={"description": "entries at or after this time (ISO 8601 with offset)"})
    to = Instant(load_default=None, allow_none=True,
                              metadata={"description": "entries before this time"})


class AuditActorSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(ACTOR_KINDS))
    id = fields.String(allow_none=True)
    label = fields.String(allow_none=True, metadata={"description": "the person's email when the log knows it"})


class AuditTargetSchema(Schema):
    type = fields.String(required=True)
    id = fields.String(allow_none=True)
    label = fields.String(allow_none=True)


class AuditEntrySchema(Schema):
    id = fields.String(required=True)
    org_id = fields.String(required=True)
    seq = fields.Integer(required=True, metadata={"description": "position in the organization's hash chain"})
    occurred_at = fields.AwareDateTime(required=True, metadata={"description": "when it happened (the event's time)"})
    recorded_at = fields.AwareDateTime(required=True)
    action = fields.String(required=True)
    actor = fields.Nested(AuditActorSchema, required=True)
    target = fields.Nested(AuditTargetSchema, required=True)
    program_id = fields.String(allow_none=True)
    changes = fields.Dict(allow_none=True, metadata={"description": "changed fields: {field: {before, after}}"})
    details = fields.Dict(allow_none=True)
    request_id = fields.String(allow_none=True, metadata={"description": "the gateway's X-Request-Id"})
    client_address = fields.String(allow_none=True)
    event_id = fields.String(required=True)
    event_type = fields.String(required=True)
    hash = fields.String(required=True, metadata={"description": "SHA-256 chained to the previous entry's"})
    prev_hash = fields.String(required=True)


class AuditPageSchema(Schema):
    items = fields.List(fields.Nested(AuditEntrySchema), required=True)
    next_cursor = fields.String(allow_none=True)


class AuditScopeSchema(Schema):
    """Whose entries: every program's (org admins) or only these programs' (program admins)."""
    program_ids = fields.List(Id(), allow_none=True, load_default=None)
