"""contracts.fields: the validated field types of every input schema (issue 10, items 2, 3, 13)."""
import pytest
from marshmallow import Schema, ValidationError

from contracts.fields import (
    Email,
    FieldCode,
    Id,
    MultiLineText,
    QueryInteger,
    SingleLineText,
    StrictInteger,
    Token,
    email_problem,
    normalize_email,
)


class Sample(Schema):
    name = SingleLineText(required=True)
    note = MultiLineText(allow_blank=True)
    email = Email()
    count = StrictInteger()
    limit = QueryInteger()
    id = Id()
    token = Token(min_length=3, max_length=10)


def refusal(**data) -> str:
    with pytest.raises(ValidationError) as refused:
        Sample().load({"name": "Ada", **data})
    (field, messages), = refused.value.messages.items()
    return messages[0]


@pytest.mark.parametrize("name", ["a\x00b", "a\ud800b", "Line\r\nBreak", "X\nBcc: x@y.org", "tab\there", "bell\x07",
                                  "nel\u0085", "ls\u2028"])
def test_single_line_text_refuses_nul_surrogates_and_control_characters(name):
    assert refusal(name=name).split(":")[0] in (FieldCode.INVALID_CHARACTER, FieldCode.CONTROL_CHARACTER)


def test_single_line_text_refuses_blank_and_too_long_and_keeps_good_names():
    assert refusal(name="   ").startswith("BLANK:")
    assert refusal(name="").startswith("BLANK:")
    assert refusal(name="x" * 201).startswith("TOO_LONG:")
    assert refusal(name=5).startswith("NOT_A_STRING:")
    assert Sample().load({"name": "Zoë O'Brien-Łukasz 李"})["name"] == "Zoë O'Brien-Łukasz 李"


def test_multi_line_text_keeps_line_breaks_and_tabs_and_refuses_other_control_characters():
    assert Sample().load({"name": "a", "note": "one\r\ntwo\n\tthree\rfour"})["note"] == "one\ntwo\n\tthree\nfour"
    assert Sample().load({"name": "a", "note": ""})["note"] == ""
    assert refusal(note="a\x00").startswith("INVALID_CHARACTER:")
    assert refusal(note="a\x1b[31m").startswith("CONTROL_CHARACTER:")
    assert refusal(note="\udfff").startswith("INVALID_CHARACTER:")


def test_email_one_rule_normalized_and_a_non_ascii_local_part_has_its_own_code():
    assert Sample().load({"name": "a", "email": "  Ada@Example.ORG "})["email"] == "ada@example.org"
    assert Sample().load({"name": "a", "email": "ada@bücher.example"})["email"] == "ada@xn--bcher-kva.example"
    assert refusal(email="jöhn.x@example.org").startswith("EMAIL_LOCAL_PART_NOT_ASCII:")
    for bad in ("a\x00@x.org", "a@x.org\r\nBcc: b@y.org", "plain", "a@b", "a..b@x.org", ".a@x.org", "a@-x.org",
                "a@x.123", "a@[127.0.0.1]", "@x.org", "a b@x.org", "x" * 65 + "@x.org", "a@x\ud800.org"):
        assert refusal(email=bad).split(":")[0] in (FieldCode.EMAIL_INVALID, FieldCode.TOO_LONG), bad
    assert email_problem(normalize_email("First.Last+tag@sub.example.co.uk")) is None
    assert Sample().load({"name": "a", "email": "a@b.c"})["email"] == "a@b.c"  # this rule, not marshmallow's too


def test_strict_integers_refuse_floats_strings_and_booleans():
    assert Sample().load({"name": "a", "count": 5})["count"] == 5
    for bad in (1.5, "5", True, 5.0, None):
        assert refusal(count=bad).startswith(("NOT_AN_INTEGER:", "Field may not be null")), bad
    assert Sample().load({"name": "a", "limit": "20"})["limit"] == 20
    for bad in ("1.5", " 5", "5e3", "", "\x00"):
        assert refusal(limit=bad).startswith("NOT_AN_INTEGER:"), bad


def test_ids_are_uuids_in_canonical_form():
    given = "0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9"
    assert Sample().load({"name": "a", "id": given})["id"] == given.lower()
    for bad in ("abc", "", "0f1e2d3c4b5a49788695a4b3c2d1e0f9", "\x00", 12, "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0fz",
                "----0f1e2d3c4b5a49788695a4b3c2d1e0f9", "{0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9}"):
        assert refusal(id=bad).startswith("NOT_A_UUID:"), bad


def test_tokens_take_any_text_but_nul_and_lone_surrogates():
    assert Sample().load({"name": "a", "token": "p@ss wörd"})["token"] == "p@ss wörd"
    assert refusal(token="ab\x00c").startswith("INVALID_CHARACTER:")
    assert refusal(token="ab\udc00c").startswith("INVALID_CHARACTER:")
    assert refusal(token="ab").startswith("TOO_SHORT:")
    assert refusal(token="x" * 11).startswith("TOO_LONG:")


def test_every_unicode_control_character_is_refused_in_a_single_line():
    import unicodedata

    controls = [chr(code) for code in range(0x110000) if unicodedata.category(chr(code)) == "Cc"]
    assert len(controls) == 65
    for ch in controls + ["\u2028", "\u2029"]:
        assert refusal(name=f"a{ch}b").split(":")[0] in (FieldCode.CONTROL_CHARACTER, FieldCode.INVALID_CHARACTER)
    assert Sample().load({"name": "a", "note": "tab\tline\n"})["note"] == "tab\tline\n"
