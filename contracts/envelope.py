"""The event envelope every event travels in (architecture.md, rule 4).

Envelope fields grow only additively, as payloads do: `actor` (who acted: a
person or an API token, `{"kind", "id"}`; null for the system itself) and
`client_address` were added for the audit log (docs/audit.md). A consumer
ignores envelope fields it does not know (`unknown=EXCLUDE`), so a later
field never parks an event at a consumer of an older release."""
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from contracts.errors import AppError, ErrorCode
from contracts.registry import Event, lookup, payload_schema

EVENT_TYPE_PATTERN = r"^[a-z_]+\.[a-z_]+(\.[a-z_]+)*\.v[0-9]+$"


ACTOR_KINDS = ("person", "api_token")  # servicekit.context.ActorKind


class ActorSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(ACTOR_KINDS))
    id = fields.String(required=True, validate=validate.Length(1, 64))


class EnvelopeSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # a newer publisher's envelope fields are ignored, never a parked event

    id = fields.UUID(required=True)
    type = fields.String(required=True, validate=validate.Regexp(EVENT_TYPE_PATTERN))
    occurred_at = fields.AwareDateTime(required=True)
    source = fields.String(required=True)
    org_id = fields.String(allow_none=True, load_default=None)
    correlation_id = fields.String(allow_none=True, load_default=None)
    actor = fields.Nested(ActorSchema, allow_none=True, load_default=None)
    client_address = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64))
    payload = fields.Dict(required=True)


def make_envelope(event_type: "str | Event", payload: dict, *, source: str, org_id=None, correlation_id=None,
                  actor: dict | None = None, client_address: str | None = None) -> dict:
    """Validate the payload against its registered schema and wrap it.

    A batch event (thousands of items, built by one function) is checked on
    its first item, and every other item must have exactly that item's keys:
    validating each item would cost more than the bulk operation itself.
    Consumers load every item."""
    found = lookup(event_type)
    event_type = found.type
    schema = found.payload_schema()
    items_field = found.batch_of
    items = payload.get(items_field) if items_field else None
    checked = {**payload, items_field: items[:1]} if isinstance(items, list) else payload
    try:
        loaded = schema.load(checked)
    except ValidationError as exc:
        raise ValueError(f"event {event_type} does not match its contract: {exc.messages}") from None
    if checked is not payload:
        _same_shape(event_type, items_field, items)
        loaded[items_field] = loaded[items_field] + items[1:]
    return {
        "id": str(uuid.uuid4()),
        "type": event_type,
        "occurred_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "source": source,
        "org_id": None if org_id is None else str(org_id),
        "correlation_id": correlation_id,
        "actor": actor,
        "client_address": client_address,
        "payload": jsonable(loaded),
    }


def make_envelopes(event_type: "str | Event", items: list[tuple[dict, object]], *, source: str,
                   correlation_id=None, actor: dict | None = None, client_address: str | None = None) -> list[dict]:
    """Envelopes for many events of one type, given as (payload, org_id): a
    bulk operation's, whose payloads are built by one function. As for a
    batch event's items, the first payload is validated against the contract
    and every other must have exactly its fields."""
    if not items:
        return []
    first = make_envelope(event_type, items[0][0], source=source, org_id=items[0][1], correlation_id=correlation_id,
                          actor=actor, client_address=client_address)
    _same_shape(first["type"], "payloads", [payload for payload, _ in items])
    return [first] + [{**first, "id": str(uuid.uuid4()), "org_id": None if org_id is None else str(org_id),
                       "payload": jsonable(payload)} for payload, org_id in items[1:]]


def _same_shape(event_type: str, what: str, values: list[dict]) -> None:
    shape = set(values[0]) if values else set()
    if any(set(value) != shape for value in values):
        raise ValueError(f"event {event_type}: every one of its {what} must have the first one's fields")


def jsonable(value):
    """A loaded payload as JSON values: what the schema's dump gives, at a
    fraction of its cost (batch events carry thousands of items)."""
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    return value


class Envelope:
    """A received event: envelope fields as attributes, payload loaded by its schema."""

    __slots__ = ("id", "type", "occurred_at", "source", "org_id", "correlation_id", "actor", "client_address",
                 "payload")

    def __init__(self, **values):
        for key in self.__slots__:
            setattr(self, key, values.get(key))

    @classmethod
    def load(cls, body) -> "Envelope":
        try:
            data = EnvelopeSchema().load(body)
            data["payload"] = payload_schema(data["type"]).load(data["payload"])
        except (ValidationError, KeyError, TypeError) as exc:
            raise AppError(ErrorCode.INVALID_EVENT, f"not a valid event: {exc}") from exc
        data["id"] = str(data["id"])
        return cls(**data)
