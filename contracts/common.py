"""Field helpers and kinds shared by contract schemas."""
from enum import StrEnum

from marshmallow import Schema, validate

from contracts.fields import MAX_SINGLE_LINE, Email, MultiLineText, QueryInteger, SingleLineText
from contracts.fields import normalize_email as normalize_email  # the one normalisation (rule 1)


def email_field(**kwargs):
    """An email address under the one rule of contracts.fields (normalized)."""
    return Email(**kwargs)


def name_field(max_length: int = MAX_SINGLE_LINE, **kwargs):
    """A required-looking single line: not blank, no control characters."""
    return SingleLineText(max_length=max_length, **kwargs)


def text_field(max_length: int, **kwargs):
    """An optional single line (may be empty)."""
    return SingleLineText(max_length=max_length, allow_blank=True, **kwargs)


def multi_line_field(max_length: int, **kwargs):
    """Free text with line breaks (a description, a message)."""
    return MultiLineText(max_length=max_length, allow_blank=True, **kwargs)


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """An enum's values as plain strings (for `validate.OneOf` and the OpenAPI document)."""
    return tuple(member.value for member in enum)


class AdminRole(StrEnum):
    ORG_ADMIN = "ORG_ADMIN"
    PROGRAM_ADMIN = "PROGRAM_ADMIN"


ADMIN_ROLES = values(AdminRole)
MAX_PAGE_SIZE = 200


class PageQuerySchema(Schema):
    """`?limit=&cursor=` of every list (RPC and HTTP)."""
    limit = QueryInteger(load_default=50, validate=validate.Range(1, MAX_PAGE_SIZE))
    cursor = text_field(500, load_default=None, allow_none=True)
