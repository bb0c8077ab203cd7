"""Field helpers shared by contract schemas."""
from marshmallow import fields, validate

Id = fields.String  # ids are strings everywhere on the wire


def email_field(**kwargs):
    return fields.Email(validate=validate.Length(max=254), **kwargs)


def name_field(max_length: int = 200, **kwargs):
    return fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)


def text_field(max_length: int, **kwargs):
    return fields.String(validate=validate.Length(max=max_length), **kwargs)


ADMIN_ROLES = ("ORG_ADMIN", "PROGRAM_ADMIN")
