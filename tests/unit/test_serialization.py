"""servicekit.serialization: kombu's JSON decoding, without its per-object hook when no object needs it."""
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from kombu import serialization as kombu_serialization
from kombu.utils import json as kombu_json

from servicekit import serialization


@pytest.mark.parametrize("value", [
    {"args": ["org", [{"id": "x", "actor": {"email": "a@b"}, "n": 1.5, "ok": True, "none": None}]], "kwargs": {}},
    {"when": datetime(2026, 12, 1, 20, 0, tzinfo=UTC), "id": uuid.uuid4(), "amount": Decimal("1.10")},
    [{"__type__": "not one of kombu's", "x": 1}, "Zoë 山田", "\x00"],
])
def test_the_same_values_as_kombu(value):
    text = kombu_json.dumps(value)
    assert serialization.loads(text) == kombu_json.loads(text)
    assert serialization.loads(text.encode()) == kombu_json.loads(text.encode())


def test_an_escaped_type_marker_is_still_decoded():
    when = kombu_json.loads(kombu_json.dumps(datetime(2026, 1, 2, tzinfo=UTC)))
    text = kombu_json.dumps({"__type__": "datetime", "__value__": "2026-01-02T00:00:00+00:00"})
    escaped = text.replace("__type__", "\\u005f_type__")
    assert serialization.loads(escaped) == when == serialization.loads(text)


def test_installed_for_json_messages():
    serialization.install()
    assert kombu_serialization.registry._decoders["application/json"] is serialization.loads
