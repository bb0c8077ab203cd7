"""Request and response shapes shared by several route modules."""
from marshmallow import Schema, fields


def page_of(item_schema: type[Schema], name: str | None = None) -> type[Schema]:
    """`{"items": [...], "next_cursor": ...}` around an item schema."""
    return Schema.from_dict(
        {"items": fields.List(fields.Nested(item_schema), required=True),
         "next_cursor": fields.String(allow_none=True)},
        name=name or f"{item_schema.__name__.removesuffix('Schema')}Page",
    )


class Empty(Schema):
    pass


class Ok(Schema):
    status = fields.String(dump_default="ok")
