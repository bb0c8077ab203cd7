"""Reading the bulk-invitation CSV as real files come: UTF-8 with or without
BOM, CRLF or LF, quoted commas and newlines, blank lines, headers in any order
and case, Excel's semicolon variant. Rows are streamed, never all held."""
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

from contracts.errors import AppError, ErrorCode
from contracts.invitations import CSV_TEMPLATE, MAX_IMPORT_BYTES

MAX_FILE_BYTES = MAX_IMPORT_BYTES
TEMPLATE = CSV_TEMPLATE
HEADERS = {"full name": "full_name", "email": "email", "external id": "external_id"}
MAX_NAME, MAX_EMAIL, MAX_EXTERNAL_ID = 200, 254, 200
# Plain syntax check (the same shape marshmallow's Email accepts, minus IP literals).
EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
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
    """Why a row cannot be used, or None."""
    if not row.full_name:
        return "Full Name is missing"
    if len(row.full_name) > MAX_NAME:
        return f"Full Name is longer than {MAX_NAME} characters"
    if not row.email:
        return "Email is missing"
    if len(row.email) > MAX_EMAIL:
        return f"Email is longer than {MAX_EMAIL} characters"
    if not EMAIL.match(row.email):
        return "Email is not a valid address"
    if row.external_id and len(row.external_id) > MAX_EXTERNAL_ID:
        return f"External ID is longer than {MAX_EXTERNAL_ID} characters"
    return None


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
