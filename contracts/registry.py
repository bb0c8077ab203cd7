"""Every published event as a named constant: its type string and payload schema.

Each contract module defines its events next to their schemas::

    MEMBER_JOINED = Event("programs.member.joined.v1", MemberJoined)

`uow.publish(MEMBER_JOINED, payload)` and `@handle_event(MEMBER_JOINED)` take
the constant, so a misspelt event is an import error, not a handler bound to
nothing. Creating an `Event` registers it: `payload_schema` is what the outbox
validates against before an event is recorded and what consumers load with;
`tests/contracts` snapshots them all."""
import importlib
import pkgutil
from dataclasses import dataclass, field

from marshmallow import Schema

# contract modules that define no events
_NOT_EVENT_MODULES = {"registry", "envelope", "errors", "common", "fields"}


@dataclass(frozen=True, eq=False)
class Event:
    """One event type. `source` (the publishing service) is the type's first
    part; `public` marks an event consumed outside the suite (so nothing in it
    has to consume it); `batch_of` names the list field of a batch event (one
    event for the many rows of a bulk operation)."""

    type: str
    schema: type[Schema]
    public: bool = False
    batch_of: str | None = None
    _instance: list = field(default_factory=list, repr=False)

    def __post_init__(self):
        existing = _EVENTS.get(self.type)
        if existing is not None and existing.schema is not self.schema:
            raise ValueError(f"event type {self.type} registered twice")
        _EVENTS[self.type] = self

    @property
    def source(self) -> str:
        return self.type.split(".", 1)[0]

    def payload_schema(self) -> Schema:
        """One shared schema instance per type (building a marshmallow schema
        deep-copies its fields: it costs more than loading a payload)."""
        if not self._instance:
            self._instance.append(self.schema())
        return self._instance[0]

    def __str__(self) -> str:
        return self.type


_EVENTS: dict[str, Event] = {}
_loaded = False


def event(event_type: str, batch_of: str | None = None, public: bool = False):
    """Register a schema class as an event by decorating it (for throwaway
    test events; the suite's events are `Event` constants)."""
    def register(schema_cls: type[Schema]) -> type[Schema]:
        Event(event_type, schema_cls, public=public, batch_of=batch_of)
        return schema_cls

    return register


def _load_all() -> None:
    global _loaded
    if not _loaded:
        import contracts

        for module in pkgutil.iter_modules(contracts.__path__):
            if module.name not in _NOT_EVENT_MODULES:
                importlib.import_module(f"contracts.{module.name}")
        _loaded = True


def lookup(event_type: "str | Event") -> Event:
    """The registered event of a type string (or the event itself)."""
    if isinstance(event_type, Event):
        return event_type
    found = _EVENTS.get(event_type)
    if found is None:
        _load_all()
        found = _EVENTS.get(event_type)
    if found is None:
        raise KeyError(f"unknown event type {event_type}")
    return found


def payload_schema(event_type: "str | Event") -> Schema:
    return lookup(event_type).payload_schema()


def batch_items(event_type: "str | Event") -> str | None:
    """The list field of a batch event, else None."""
    return lookup(event_type).batch_of


def all_events() -> dict[str, type[Schema]]:
    """Type string -> payload schema class, of every registered event."""
    return {event_type: found.schema for event_type, found in registered().items()}


def registered() -> dict[str, Event]:
    """Type string -> Event, of every registered event, sorted by type."""
    _load_all()
    return dict(sorted(_EVENTS.items()))
