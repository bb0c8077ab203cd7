"""Event type -> payload schema, for every published event.

Contract modules register their payload schemas with `@event("type.v1")`.
`payload_schema` is what the outbox validates against before an event is
recorded and what consumers load with; `tests/contracts` snapshots them all."""
import importlib

from marshmallow import Schema

CONTRACT_MODULES = (
    "contracts.identity",
    "contracts.programs",
    "contracts.invitations",
    "contracts.messaging",
)

_EVENTS: dict[str, type[Schema]] = {}
_BATCH_ITEMS: dict[str, str] = {}
_loaded = False


def event(event_type: str, batch_of: str | None = None):
    """Register a payload schema. `batch_of` names the list field of a batch
    event (one event for the many rows of a bulk operation)."""
    def register(schema_cls: type[Schema]) -> type[Schema]:
        existing = _EVENTS.get(event_type)
        if existing is not None and existing is not schema_cls:
            raise ValueError(f"event type {event_type} registered twice")
        _EVENTS[event_type] = schema_cls
        if batch_of:
            _BATCH_ITEMS[event_type] = batch_of
        return schema_cls

    return register


def batch_items(event_type: str) -> str | None:
    """The list field of a batch event, else None."""
    _load_all()
    return _BATCH_ITEMS.get(event_type)


def _load_all() -> None:
    global _loaded
    if not _loaded:
        for module in CONTRACT_MODULES:
            importlib.import_module(module)
        _loaded = True


_INSTANCES: dict[str, Schema] = {}


def payload_schema(event_type: str) -> Schema:
    """The payload schema of an event type; one shared instance per type
    (building a marshmallow schema deep-copies its fields: it costs more than
    loading a payload)."""
    schema = _INSTANCES.get(event_type)
    if schema is None:
        _load_all()
        try:
            schema = _INSTANCES[event_type] = _EVENTS[event_type]()
        except KeyError:
            raise KeyError(f"unknown event type {event_type}") from None
    return schema


def all_events() -> dict[str, type[Schema]]:
    _load_all()
    return dict(sorted(_EVENTS.items()))
