"""Field helpers and kinds shared by contract schemas."""
from enum import StrEnum

from marshmallow import fields, validate

Id = fields.String  # ids are strings everywhere on the wire


def normalize_email(email: str) -> str:
    """Emails are stored and compared trimmed and lower-cased (rule 1)."""
    return email.strip().lower()


class NormalizedEmail(fields.Email):
    """An email address, normalised before it is validated."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = normalize_email(value)
        return super()._deserialize(value, attr, data, **kwargs)


def email_field(**kwargs):
    return NormalizedEmail(validate=validate.Length(max=254), **kwargs)


def name_field(max_length: int = 200, **kwargs):
    return fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)


def text_field(max_length: int, **kwargs):
    return fields.String(validate=validate.Length(max=max_length), **kwargs)


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """An enum's values as plain strings (for `validate.OneOf` and the OpenAPI document)."""
    return tuple(member.value for member in enum)


class AdminRole(StrEnum):
    ORG_ADMIN = "ORG_ADMIN"
    PROGRAM_ADMIN = "PROGRAM_ADMIN"


ADMIN_ROLES = values(AdminRole)
