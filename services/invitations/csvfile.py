"""Reading the bulk-invitation CSV as real files come: UTF-8 with or without
BOM, CRLF or LF, quoted commas and newlines, blank lines, headers in any order
and case, Excel's semicolon variant. Rows are streamed, never all held.

A row is checked by the same field rules as the single-invitation API
(`contracts.fields`): a bad row is rejected with its reason, never the file."""
import csv
import io
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from contracts.errors import AppError, ErrorCode
from contracts.fields import FieldCode, Problem, email_problem, normalize_email, text_problem
from contracts.invitations import CSV_TEMPLATE, MAX_IMPORT_BYTES

MAX_FILE_BYTES = MAX_IMPORT_BYTES
TEMPLATE = CSV_TEMPLATE
HEADERS = {"full name": "full_name", "email": "email", "external id": "external_id"}
MAX_NAME, MAX_EMAIL, MAX_EXTERNAL_ID = 200, 254, 200
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

csv.field_size_limit(1024 * 1024)


def bad_file(message: str) -> AppError:
    return AppError(ErrorCode.INVALID_FILE, message)


@dataclass
class Row:
    number: int  # the record's number in the file, the header being 1
    full_name: str
    email: str
    external_id: str | None


def decode(content: bytes) -> str:
    if not content or not content.strip():
        raise bad_file("the file is empty")
    if len(content) > MAX_FILE_BYTES:
        raise AppError(ErrorCode.PAYLOAD_TOO_LARGE, f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        try:
            # Only encoded lone surrogates (what some tools write for broken
            # text): decoded as such, and the rows holding them are rejected.
            return content.decode("utf-8-sig", errors="surrogatepass")
        except UnicodeDecodeError:
            raise bad_file(f"the file is not UTF-8 text (byte {exc.start}); save it as 'CSV UTF-8'") from None


def _delimiter(text: str) -> str:
    first_line = text.split("\n", 1)[0]
    return ";" if first_line.count(";") > first_line.count(",") else ","


def _columns(header: list[str]) -> dict[str, int]:
    found = {}
    for index, name in enumerate(header):
        key = HEADERS.get(" ".join(name.replace("_", " ").split()).lower())
        if key and key not in found:
            found[key] = index
    missing = [title for title, key in (("Full Name", "full_name"), ("Email", "email"),
                                        ("External ID", "external_id")) if key not in found]
    if missing:
        raise bad_file(f"the header row lacks {', '.join(missing)}; expected the headers "
                       "Full Name,Email,External ID (see the template)")
    return found


def rows(text: str, start: int = 2) -> Iterator[Row]:
    """The non-blank data rows of the file, from record number `start` on.
    Raises INVALID_FILE for a file without the headers or not CSV."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=False)
    try:
        header = next((r for r in reader if any(cell.strip() for cell in r)), None)
        if header is None:
            raise bad_file("the file is empty")
        columns = _columns(header)
        number = 1
        for record in reader:
            number += 1
            if number < start or not any(cell.strip() for cell in record):
                continue

            def cell(key, record=record):
                index = columns[key]
                return record[index].strip() if index < len(record) else ""

            yield Row(number, cell("full_name"), cell("email"), cell("external_id") or None)
    except csv.Error as exc:
        raise bad_file(f"the file is not valid CSV near record {reader.line_num}: {exc}") from None


def count_rows(text: str) -> int:
    return sum(1 for _ in rows(text))


def problem(row: Row) -> str | None:
    """Why a row cannot be used, or None. Codes come with the new reasons
    (`Full Name: contains a NUL character (INVALID_CHARACTER)`)."""
    return (_text_reason("Full Name", row.full_name, MAX_NAME, required=True)
            or _email_reason(row.email)
            or _text_reason("External ID", row.external_id or "", MAX_EXTERNAL_ID, required=False))


def _text_reason(column: str, value: str, max_length: int, required: bool) -> str | None:
    found = text_problem(value, max_length=max_length, allow_blank=not required)
    if found is None:
        return None
    if found.code == FieldCode.BLANK:
        return f"{column} is missing"
    if found.code == FieldCode.TOO_LONG:
        return f"{column} is longer than {max_length} characters"
    return _reason(column, found)


def _email_reason(value: str) -> str | None:
    if not value:
        return "Email is missing"
    found = email_problem(normalize_email(value))
    if found is None:
        return None
    if found.code == FieldCode.TOO_LONG:
        return f"Email is longer than {MAX_EMAIL} characters"
    if found.code == FieldCode.EMAIL_INVALID and found.message.startswith("not a valid email address"):
        return "Email is not a valid address"  # the plain syntax refusal, worded as before
    return _reason("Email", found)


def _reason(column: str, found: Problem) -> str:
    return f"{column}: {found.message} ({found.code})"


def printable(value: str | None) -> str | None:
    """A rejected cell as it can be stored and shown: control characters and
    lone surrogates spelled out (\\u0000), the rest as sent."""
    if value is None:
        return None
    return "".join(f"\\u{ord(ch):04x}" if _unprintable(ch) else ch for ch in value)


def _unprintable(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cs") or ch in "\u2028\u2029"


def neutralise(value) -> str:
    """A cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def rejected_csv(records) -> str:
    """records: (row_number, full_name, email, external_id, reason)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Row", "Full Name", "Email", "External ID", "Reason"])
    for record in records:
        writer.writerow([neutralise(value) for value in record])
    return out.getvalue()
