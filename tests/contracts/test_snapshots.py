"""Published event schemas may only grow within a version.

`snapshots.json` records every event type's fields (type, required, nullable,
nested shape). The test fails when a recorded field disappears, changes type,
becomes required or stops accepting null, or an event type vanishes: such a
change needs a new version (`….v2`). New events and new optional fields are
additive: run `UPDATE_SNAPSHOTS=1 pytest tests/contracts` to record them."""
import json
import os
from pathlib import Path

from marshmallow import fields

from contracts.registry import all_events
from servicekit.config import service_names

SNAPSHOTS = Path(__file__).with_name("snapshots.json")


def wire_type(field) -> str:
    """marshmallow's own type a field is (contracts.fields' validated types
    narrow what is accepted, not the type on the wire)."""
    return next(cls.__name__ for cls in type(field).__mro__ if cls.__module__ == fields.__name__)


def describe(schema) -> dict:
    shape = {}
    for name, field in sorted(schema.fields.items()):
        entry = {"type": wire_type(field), "required": field.required, "allow_none": field.allow_none}
        if isinstance(field, fields.Nested):
            entry["nested"] = describe(field.schema)
        if isinstance(field, fields.List):
            entry["items"] = wire_type(field.inner)
            if isinstance(field.inner, fields.Nested):
                entry["nested"] = describe(field.inner.schema)
        shape[field.data_key or name] = entry
    return shape


def current() -> dict:
    # Only the services' published contracts (tests may register throwaway event types).
    return {event_type: describe(schema()) for event_type, schema in all_events().items()
            if event_type.split(".")[0] in service_names()}


def incompatibilities(old: dict, new: dict, where: str = "") -> list[str]:
    problems = []
    for name, before in old.items():
        path = f"{where}{name}"
        after = new.get(name)
        if after is None:
            problems.append(f"{path}: removed")
            continue
        if after["type"] != before["type"] or after.get("items") != before.get("items"):
            problems.append(f"{path}: type changed {before['type']} -> {after['type']}")
        if after["required"] and not before["required"]:
            problems.append(f"{path}: became required")
        if before["allow_none"] and not after["allow_none"]:
            problems.append(f"{path}: no longer accepts null")
        if "nested" in before:
            problems += incompatibilities(before["nested"], after.get("nested", {}), f"{path}.")
    for name, after in new.items():
        if name not in old and after["required"]:
            problems.append(f"{where}{name}: new field is required (consumers of old events break)")
    return problems


def test_published_events_change_only_additively():
    recorded = json.loads(SNAPSHOTS.read_text()) if SNAPSHOTS.exists() else {}
    now = current()
    problems = []
    for event_type, shape in recorded.items():
        if event_type not in now:
            problems.append(f"{event_type}: event type removed")
        else:
            problems += [f"{event_type}: {p}" for p in incompatibilities(shape, now[event_type])]
    assert not problems, "incompatible contract changes (publish a new version instead):\n" + "\n".join(problems)
    unrecorded = sorted(set(now) - set(recorded)) + sorted(
        t for t in now if t in recorded and now[t] != recorded[t]
    )
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOTS.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
    else:
        assert not unrecorded, f"record additive changes with UPDATE_SNAPSHOTS=1: {unrecorded}"


def test_the_checker_catches_breaking_changes():
    old = {"a": {"type": "String", "required": True, "allow_none": False},
           "b": {"type": "Integer", "required": False, "allow_none": True}}
    assert incompatibilities(old, old) == []
    assert incompatibilities(old, {"b": old["b"]}) == ["a: removed"]
    assert incompatibilities(old, {**old, "b": {**old["b"], "type": "String"}}) == [
        "b: type changed Integer -> String"]
    assert incompatibilities(old, {**old, "b": {**old["b"], "allow_none": False}}) == ["b: no longer accepts null"]
    added = {**old, "c": {"type": "String", "required": True, "allow_none": False}}
    assert incompatibilities(old, added) == ["c: new field is required (consumers of old events break)"]
    assert incompatibilities(old, {**old, "c": {"type": "String", "required": False, "allow_none": True}}) == []
