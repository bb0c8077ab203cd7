"""The event envelope every event travels in (architecture.md, rule 4)."""
import uuid
from datetime import UTC, datetime

from marshmallow import Schema, ValidationError, fields, validate

from contracts.errors import AppError, ErrorCode

EVENT_TYPE_PATTERN = r"^[a-z_]+\.[a-z_]+(\.[a-z_]+)*\.v[0-9]+$"


class EnvelopeSchema(Schema):
    id = fields.UUID(required=True)
    type = fields.String(required=True, validate=validate.Regexp(EVENT_TYPE_PATTERN))
    occurred_at = fields.AwareDateTime(required=True)
    source = fields.String(required=True)
    org_id = fields.String(allow_none=True, load_default=None)
    correlation_id = fields.String(allow_none=True, load_default=None)
    payload = fields.Dict(required=True)


def make_envelope(event_type: str, payload: dict, *, source: str, org_id=None, correlation_id=None) -> dict:
    """Validate the payload against its registered schema and wrap it."""
    from contracts.registry import payload_schema

    schema = payload_schema(event_type)
    errors = schema.validate(payload)
    if errors:
        raise ValueError(f"event {event_type} does not match its contract: {errors}")
    return {
        "id": str(uuid.uuid4()),
        "type": event_type,
        "occurred_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "source": source,
        "org_id": None if org_id is None else str(org_id),
        "correlation_id": correlation_id,
        "payload": schema.dump(schema.load(payload)),
    }


class Envelope:
    """A received event: envelope fields as attributes, payload loaded by its schema."""

    __slots__ = ("id", "type", "occurred_at", "source", "org_id", "correlation_id", "payload")

    def __init__(self, **values):
        for key in self.__slots__:
            setattr(self, key, values.get(key))

    @classmethod
    def load(cls, body) -> "Envelope":
        from contracts.registry import payload_schema

        try:
            data = EnvelopeSchema().load(body)
            data["payload"] = payload_schema(data["type"]).load(data["payload"])
        except (ValidationError, KeyError, TypeError) as exc:
            raise AppError(ErrorCode.INVALID_EVENT, f"not a valid event: {exc}") from exc
        data["id"] = str(data["id"])
        return cls(**data)
