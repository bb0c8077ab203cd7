"""The CSV reader on the shapes real files come in (pure functions, no I/O)."""
import csv
import io

import pytest

from contracts.errors import AppError
from services.invitations import csvfile


def parsed(content: bytes, start: int = 2):
    return [(r.number, r.full_name, r.email, r.external_id) for r in csvfile.rows(csvfile.decode(content), start)]


def test_bom_crlf_quotes_blank_lines_and_any_header_order():
    content = ("\ufeffEMAIL , external_id,Full  Name\r\n"
               "a@ex.com,1,\"Doe, Jane\"\r\n\r\n"
               "b@ex.com,,\"Multi\r\nLine\"\r\n"
               ",,\r\n\r\n").encode()
    assert parsed(content) == [(2, "Doe, Jane", "a@ex.com", "1"), (4, "Multi\r\nLine", "b@ex.com", None)]
    assert parsed(content, start=3) == [(4, "Multi\r\nLine", "b@ex.com", None)]  # resuming skips done records


def test_excel_semicolons_and_short_rows():
    content = b"Full Name;Email;External ID\nSmith, Jo;jo@ex.com;7\nOnly Name\n"
    assert parsed(content) == [(2, "Smith, Jo", "jo@ex.com", "7"), (3, "Only Name", "", None)]


@pytest.mark.parametrize("content, words", [
    (b"", "empty"),
    (b"  \r\n", "empty"),
    ("Full Name,Email,External ID\nJosé,j@ex.com,\n".encode("latin-1"), "UTF-8"),
    (b"Name,Email,External ID\n", "Full Name"),
    (b"Full Name,Mail\n", "Email, External ID"),
])
def test_files_refused_with_what_is_wrong(content, words):
    with pytest.raises(AppError) as refused:
        parsed(content)
    assert refused.value.code == "INVALID_FILE" and words in refused.value.message


def test_too_large():
    with pytest.raises(AppError) as refused:
        csvfile.decode(b"x" * (csvfile.MAX_FILE_BYTES + 1))
    assert refused.value.code == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize("name, email, external_id, reason", [
    ("", "a@ex.com", None, "Full Name is missing"),
    ("A" * 201, "a@ex.com", None, "Full Name is longer than 200 characters"),
    ("Ann", "", None, "Email is missing"),
    ("Ann", "ann@", None, "Email is not a valid address"),
    ("Ann", "ann at ex.com", None, "Email is not a valid address"),
    ("Ann", "a" * 250 + "@ex.com", None, "Email is longer than 254 characters"),
    ("Ann", "ann@ex.com", "x" * 201, "External ID is longer than 200 characters"),
    ("Ann", "ann.o'neil+tag@sub.ex.com", "E-1", None),
    # issue 10: characters that break storage or an email header reject the row, with a code
    ("A\x00nn", "ann@ex.com", None, "Full Name: contains a NUL character (INVALID_CHARACTER)"),
    ("Ann", "ann\x00@ex.com", None, "Email: contains a NUL character (EMAIL_INVALID)"),
    ("Ann", "ann@ex.com", "\x00", "External ID: contains a NUL character (INVALID_CHARACTER)"),
    ("A\ud800", "ann@ex.com", None,
     "Full Name: contains a lone surrogate (not valid Unicode text) (INVALID_CHARACTER)"),
    ("X\r\nBcc: v@ex.com", "ann@ex.com", None,
     "Full Name: line breaks, tabs and other control characters are not allowed (U+000D) (CONTROL_CHARACTER)"),
    ("Ann\tTab", "ann@ex.com", None,
     "Full Name: line breaks, tabs and other control characters are not allowed (U+0009) (CONTROL_CHARACTER)"),
    ("Ann\u2028", "ann@ex.com", None,
     "Full Name: line breaks, tabs and other control characters are not allowed (U+2028) (CONTROL_CHARACTER)"),
    ("Ann", "ann@ex.com", "E\x1b1",
     "External ID: line breaks, tabs and other control characters are not allowed (U+001B) (CONTROL_CHARACTER)"),
    # the single-invitation API's email rule: SMTPUTF8 local parts are not supported
    ("Ann", "jöhn.x@ex.com", None, "Email: the part before @ must be ASCII (addresses like jöhn@example.org are "
                                   "not supported) (EMAIL_LOCAL_PART_NOT_ASCII)"),
    ("Ann", "ann@bücher.example", None, None),
])
def test_row_validation(name, email, external_id, reason):
    assert csvfile.problem(csvfile.Row(2, name, email, external_id)) == reason


def test_one_encoded_lone_surrogate_spoils_its_row_not_the_file():
    content = b"Full Name,Email,External ID\nSur \xed\xa0\x80,s@ex.com,\nAnn,a@ex.com,\n"
    rows = list(csvfile.rows(csvfile.decode(content)))
    assert [r.full_name for r in rows] == ["Sur \ud800", "Ann"]
    assert csvfile.problem(rows[0]).endswith("(INVALID_CHARACTER)") and csvfile.problem(rows[1]) is None


def test_the_email_rule_is_the_apis():
    """One rule: what the API's Email field refuses, the importer refuses with the same code."""
    from marshmallow import ValidationError

    from contracts.fields import Email

    for address in ("jöhn.x@ex.com", "ann@", "a\x00@ex.com"):
        with pytest.raises(ValidationError) as refused:
            Email().deserialize(address)
        code, _, message = str(refused.value.messages[0]).partition(": ")
        reason = csvfile.problem(csvfile.Row(2, "Ann", address, None))
        assert reason in (f"Email: {message} ({code})", "Email is not a valid address"), reason


def test_unprintable_characters_are_spelled_out_for_storage():
    assert csvfile.printable("N\x00l \ud800 \r\n\u2028é") == "N\\u0000l \\ud800 \\u000d\\u000a\\u2028é"
    assert csvfile.printable(None) is None and csvfile.printable("Plain") == "Plain"


def test_rejected_csv_neutralises_formulas():
    out = csvfile.rejected_csv([(2, "=SUM(A1)", "+x@ex.com", "-1", "Email is not a valid address"),
                                (3, "@me", "\tx", "\rcr", "ok"), (4, "Plain", "p@ex.com", None, "dup")])
    header, first, second, third = list(csv.reader(io.StringIO(out, newline="")))
    assert header == ["Row", "Full Name", "Email", "External ID", "Reason"]
    assert first == ["2", "'=SUM(A1)", "'+x@ex.com", "'-1", "Email is not a valid address"]
    assert second == ["3", "'@me", "'\tx", "'\rcr", "ok"]
    assert third == ["4", "Plain", "p@ex.com", "", "dup"]
