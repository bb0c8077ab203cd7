"""Field helpers shared by contract schemas."""
from marshmallow import fields, validate

Id = fields.String  # ids are strings everywhere on the wire


class NormalizedEmail(fields.Email):
    """An email address, trimmed and lower-cased before it is validated (rule 1)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = value.strip().lower()
        return super()._deserialize(value, attr, data, **kwargs)


def email_field(**kwargs):
    return NormalizedEmail(validate=validate.Length(max=254), **kwargs)


def name_field(max_length: int = 200, **kwargs):
    return fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)


def text_field(max_length: int, **kwargs):
    return fields.String(validate=validate.Length(max=max_length), **kwargs)


ADMIN_ROLES = ("ORG_ADMIN", "PROGRAM_ADMIN")
