"""The gateway's check of every string of a JSON body (NUL, lone surrogates; depth), and its fast path:
a raw body without `\\u` escapes or encoded surrogates cannot hold them (gateway/http.py)."""
import json

import pytest

from contracts.errors import AppError
from gateway.http import MAX_JSON_DEPTH, check_json_strings, may_hold_non_text


def refused_at(data, strings=True) -> dict:
    with pytest.raises(AppError) as refused:
        check_json_strings(data, strings)
    return refused.value.details


@pytest.mark.parametrize(("data", "place"), [
    ({"a": "x\x00"}, "a"),
    ({"a": {"b": ["ok", "\udc00"]}}, "a.b.1"),
    ({"k\x00": 1}, "_schema"),
    ({"a": {"k\x00": 1}}, "a"),
    ({"statements": [{"id": "1"}, {"actor": {"email": "a\x00@x"}}]}, "statements.1.actor.email"),
    (["ok", {"b": "\x00"}], "_schema.1.b"),
    ("\x00", "_schema"),
])
def test_a_refused_string_is_named_by_its_place(data, place):
    assert list(refused_at(data)) == [place]


def test_depth_is_checked_with_or_without_the_strings():
    deep = "x"  # at depth MAX_JSON_DEPTH: allowed
    for _ in range(MAX_JSON_DEPTH - 1):
        deep = {"a": deep}
    check_json_strings(deep)
    for strings in (True, False):
        assert "_schema" in refused_at({"a": deep}, strings)
        assert "_schema" in refused_at([deep], strings)


def test_strings_false_checks_the_depth_only():
    check_json_strings({"a": "x\x00", "b": ["\udc00"]}, strings=False)


@pytest.mark.parametrize("value", ["x\x00", "\udc00y", "ok\ud800"])
def test_only_escapes_or_encoded_surrogates_can_bring_non_text(value):
    escaped = json.dumps({"a": value}).encode()
    assert may_hold_non_text(escaped)
    if "\x00" not in value:  # a surrogate sent as raw bytes (json.loads decodes them with surrogatepass)
        raw = json.dumps({"a": value}, ensure_ascii=False).encode("utf-8", "surrogatepass")
        assert json.loads(raw)["a"] == value and may_hold_non_text(raw)
    assert not may_hold_non_text(json.dumps({"a": "Zoë 山田 \t \\"}, ensure_ascii=False).encode())
