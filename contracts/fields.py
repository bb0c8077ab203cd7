"""Validated field types for every RPC and HTTP input schema.

Each rule is a plain function (`text_problem`, `email_problem`, ...) that
answers None or a `Problem` with a stable code, so code that does not use
marshmallow (the CSV importer) applies exactly the same rule; the marshmallow
fields below wrap them. A refused field's message is "<CODE>: <explanation>",
the code being one of `FieldCode` (documented in docs/api.md)."""
import re
from dataclasses import dataclass
from enum import StrEnum

import idna
from marshmallow import ValidationError, fields, validate

from contracts.errors import AppError, ErrorCode

MAX_SINGLE_LINE = 200
MAX_MULTI_LINE = 20_000
MAX_EMAIL = 254
MAX_EMAIL_LOCAL_PART = 64


class FieldCode(StrEnum):
    INVALID_CHARACTER = "INVALID_CHARACTER"  # NUL or a lone surrogate: never text
    CONTROL_CHARACTER = "CONTROL_CHARACTER"  # line breaks, tabs and other control characters
    BLANK = "BLANK"
    TOO_LONG = "TOO_LONG"
    TOO_SHORT = "TOO_SHORT"
    NOT_A_STRING = "NOT_A_STRING"
    EMAIL_INVALID = "EMAIL_INVALID"
    EMAIL_LOCAL_PART_NOT_ASCII = "EMAIL_LOCAL_PART_NOT_ASCII"
    NOT_AN_INTEGER = "NOT_AN_INTEGER"
    NOT_A_UUID = "NOT_A_UUID"
    TOO_DEEP = "TOO_DEEP"  # JSON nested deeper than the gateway takes
    # an email domain an organization claims (contracts/domains.py)
    DOMAIN_INVALID = "DOMAIN_INVALID"  # not a host name (IDNA), or an IP address
    DOMAIN_WILDCARD = "DOMAIN_WILDCARD"  # "*.example.com": one domain is claimed at a time
    DOMAIN_LABEL_TOO_LONG = "DOMAIN_LABEL_TOO_LONG"  # a label (between dots) over 63 characters
    DOMAIN_PUBLIC_SUFFIX = "DOMAIN_PUBLIC_SUFFIX"  # "com", "co.uk", "github.io": nobody's alone


@dataclass(frozen=True)
class Problem:
    code: FieldCode
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")
# Control characters (Unicode category Cc: C0, DEL, C1 with NEL) and the line
# and paragraph separators, which break a header line as surely as CR/LF.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_LINES_AND_TABS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def character_problem(value: str) -> Problem | None:
    """NUL and lone surrogates cannot be stored or encoded anywhere (PostgreSQL
    text, UTF-8): they are refused in every string, passwords and tokens included."""
    found = _NOT_TEXT.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return Problem(FieldCode.INVALID_CHARACTER, "contains a NUL character")
    return Problem(FieldCode.INVALID_CHARACTER, "contains a lone surrogate (not valid Unicode text)")


def text_problem(value: str, *, max_length: int = MAX_SINGLE_LINE, multi_line: bool = False,
                 allow_blank: bool = False) -> Problem | None:
    """Why `value` is not acceptable text, or None."""
    problem = character_problem(value)
    if problem:
        return problem
    control = (_CONTROL_BUT_LINES_AND_TABS if multi_line else _CONTROL).search(value)
    if control:
        what = "control characters other than line breaks and tabs" if multi_line else \
            "line breaks, tabs and other control characters"
        return Problem(FieldCode.CONTROL_CHARACTER, f"{what} are not allowed (U+{ord(control.group()):04X})")
    if not allow_blank and not value.strip():
        return Problem(FieldCode.BLANK, "must not be empty or only spaces")
    if len(value) > max_length:
        return Problem(FieldCode.TOO_LONG, f"at most {max_length} characters")
    return None


def normalize_multi_line(value: str) -> str:
    """Browsers send CRLF; text is stored with LF only."""
    return value.replace("\r\n", "\n").replace("\r", "\n")


_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def ascii_domain(domain: str) -> str:
    """The one rule for a domain name, an email address's and a claimed one's
    (contracts/domains.normalize_domain adds the claim's checks on top): an ASCII
    name in lower case; a name with other characters in its IDNA 2008 ASCII form
    (UTS #46 mapping, non-transitional, the `idna` package), as registries and
    DNS have it: `BÜCHER.example` is `xn--bcher-kva.example`, and the deviation
    characters stay themselves, so `straße.de` is `xn--strae-oqa.de` (not
    `strasse.de`, which is another domain, as IDNA 2003 had it). Raises
    `idna.IDNAError` (a UnicodeError) for a name IDNA 2008 refuses."""
    if domain.isascii():
        return domain.lower()
    return idna.encode(domain, uts46=True).decode("ascii").lower()


def normalize_email(value: str) -> str:
    """Trimmed, lower-cased; the domain by `ascii_domain` (an internationalized
    one in its IDNA 2008 ASCII form). A domain IDNA 2008 refuses but IDNA 2003
    encodes (symbols such as `☃.net`, a joiner out of place) keeps its IDNA 2003
    form, as before, so such addresses still sign in; it can never be claimed."""
    value = value.strip()
    local, at, domain = value.rpartition("@")
    if not at:
        return value.lower()
    try:
        domain = ascii_domain(domain)
    except UnicodeError:
        try:
            domain = domain.lower().encode("idna").decode("ascii")
        except UnicodeError:
            domain = domain.lower()
    return f"{local.lower()}@{domain}"


def email_problem(value: str) -> Problem | None:
    """The one email rule (single invitations, signup, admins and the CSV
    importer). `value` is normalized first (`normalize_email`). Addresses
    with a non-ASCII local part need SMTPUTF8 end to end, which the mail path
    does not promise: they are refused with their own code."""
    problem = character_problem(value) or text_problem(value, max_length=MAX_EMAIL)
    if problem:
        return Problem(FieldCode.EMAIL_INVALID, problem.message) if problem.code != FieldCode.TOO_LONG else problem
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        return Problem(FieldCode.EMAIL_INVALID, "not a valid email address")
    if not local.isascii():
        return Problem(FieldCode.EMAIL_LOCAL_PART_NOT_ASCII,
                       "the part before @ must be ASCII (addresses like jöhn@example.org are not supported)")
    if len(local) > MAX_EMAIL_LOCAL_PART or not _LOCAL_PART.match(local):
        return Problem(FieldCode.EMAIL_INVALID, "not a valid email address")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        return Problem(FieldCode.EMAIL_INVALID, "not a valid email address (domain)")
    return None


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def uuid_problem(value) -> Problem | None:
    """None for a UUID in its hyphenated form (any case); uuid.UUID alone also
    takes braces, "urn:uuid:" and misplaced hyphens."""
    if isinstance(value, str) and _UUID.match(value):
        return None
    return Problem(FieldCode.NOT_A_UUID, "not a valid id")


def is_uuid(value) -> bool:
    return uuid_problem(value) is None


# ---------------------------------------------------------------- marshmallow fields


def _refuse(problem: Problem):
    raise ValidationError(str(problem))


class _Text(fields.String):
    multi_line = False
    default_max = MAX_SINGLE_LINE

    def __init__(self, *, max_length: int | None = None, allow_blank: bool = False, **kwargs):
        self.max_length = max_length or self.default_max
        self.allow_blank = allow_blank
        super().__init__(**kwargs)
        # Documented in the OpenAPI document (apispec reads `metadata`).
        self.metadata = {"maxLength": self.max_length, **({} if allow_blank else {"minLength": 1}),
                         **self.metadata}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            _refuse(Problem(FieldCode.NOT_A_STRING, "must be a string"))
        if self.multi_line:
            value = normalize_multi_line(value)
        problem = text_problem(value, max_length=self.max_length, multi_line=self.multi_line,
                               allow_blank=self.allow_blank)
        if problem:
            _refuse(problem)
        return value


class SingleLineText(_Text):
    """A name, a subject, a label: no control characters (CR/LF included),
    not blank unless `allow_blank`, at most `max_length` (200) characters."""


class MultiLineText(_Text):
    """A description or a message body: line breaks (CRLF stored as LF) and
    tabs allowed, no other control characters; at most 20,000 characters."""
    multi_line = True
    default_max = MAX_MULTI_LINE

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.metadata = {"x-text": "multi-line", **self.metadata}  # line breaks allowed (documented)


class Email(fields.Email):
    """An email address under `email_problem`'s rule, stored normalized."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # One rule: email_problem's, not marshmallow's regex as well.
        self.validators = [v for v in self.validators if not isinstance(v, validate.Email)]
        self.metadata = {"format": "email", "maxLength": MAX_EMAIL, **self.metadata}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            _refuse(Problem(FieldCode.NOT_A_STRING, "must be a string"))
        value = normalize_email(value)
        problem = email_problem(value)
        if problem:
            _refuse(problem)
        return value


class StrictInteger(fields.Integer):
    """A JSON integer: 1.5, "5" and true are refused (marshmallow's Integer takes them)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            _refuse(Problem(FieldCode.NOT_AN_INTEGER, "must be a whole number"))
        return super()._deserialize(value, attr, data, **kwargs)


class QueryInteger(fields.Integer):
    """An integer from a query string: decimal digits only ("5", not "5.0" or " 5")."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not (isinstance(value, int) or
                                           (isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,18}", value))):
            _refuse(Problem(FieldCode.NOT_AN_INTEGER, "must be a whole number"))
        return super()._deserialize(value, attr, data, **kwargs)


class Id(fields.String):
    """A UUID, answered in its canonical lower-case form. A malformed one is a
    400 NOT_A_UUID, or with `not_found="program"` a 404 like any id that names
    nothing (a reference to an object, as a path id is)."""

    def __init__(self, *, not_found: str | None = None, **kwargs):
        self.not_found = not_found
        super().__init__(**kwargs)
        self.metadata = {"format": "uuid", **self.metadata}

    def _deserialize(self, value, attr, data, **kwargs):
        problem = uuid_problem(value)
        if problem:
            if self.not_found:
                raise AppError(ErrorCode.NOT_FOUND, f"{self.not_found} not found")
            _refuse(problem)
        return value.lower()


CATALOG_ID = validate.Regexp(r"^[A-Za-z0-9_\-]{1,64}$", error="not a catalog id")


class CatalogId(fields.String):
    """A catalog course or specialization id: the catalog's own ids, not UUIDs."""

    def __init__(self, **kwargs):
        super().__init__(validate=CATALOG_ID, **kwargs)


class Token(fields.String):
    """An opaque token or password: any characters but NUL and lone surrogates."""

    def __init__(self, *, min_length: int = 1, max_length: int = 500, **kwargs):
        self.min_length, self.max_length = min_length, max_length
        super().__init__(**kwargs)
        self.metadata = {"minLength": min_length, "maxLength": max_length, "x-text": "opaque", **self.metadata}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            _refuse(Problem(FieldCode.NOT_A_STRING, "must be a string"))
        problem = character_problem(value)
        if problem:
            _refuse(problem)
        if not self.min_length <= len(value) <= self.max_length:
            _refuse(Problem(FieldCode.TOO_LONG if len(value) > self.max_length else FieldCode.TOO_SHORT,
                            f"use {self.min_length} to {self.max_length} characters"))
        return value
