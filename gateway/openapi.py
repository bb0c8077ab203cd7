"""The OpenAPI document, generated from the routes' marshmallow schemas."""
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from contracts.errors import http_status
from gateway.http import MACHINE, PUBLIC, ROUTES


class ErrorBody(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Dict()


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBody, required=True)


COMMON_ERRORS = {
    "400": "Invalid input (details name the fields)",
    "401": "No or bad credentials",
    "404": "Not found, or not yours",
    "503": "A service is down",
}


def unique_names():
    """apispec's schema naming (class name without "Schema"), except that a
    second class with a taken name is prefixed with its module (e.g. the
    `Preview` of contracts.invitations and of contracts.messaging)."""
    owners: dict[str, type] = {}

    def resolve(schema) -> str:
        cls = schema if isinstance(schema, type) else type(schema)
        name = cls.__name__.removesuffix("Schema") or cls.__name__
        if getattr(schema, "partial", False):
            name = f"Partial{name}"
        if owners.setdefault(name, cls) is not cls:
            name = cls.__module__.rsplit(".", 1)[-1].title() + name
            owners.setdefault(name, cls)
        return name

    return resolve


def build_spec() -> dict:
    spec = APISpec(
        title="Learning admin platform API",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin(schema_name_resolver=unique_names())],
        info={"description": "Gateway of the enterprise learning administration suite. Errors: "
                             '{"error": {"code", "message", "details"}}.'},
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.schema("Error", schema=ErrorSchema)
    paths: dict[str, dict] = {}
    for route in ROUTES:
        operation = {
            "summary": route.summary,
            "tags": list(route.tags) or [route.path.split("/")[2]],
            "operationId": f"{route.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', route.path.lower()).strip('_')}",
            "responses": {},
            "parameters": [
                {"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
                for name in re.findall(r"\{(\w+)\}", route.path)
            ],
        }
        if route.query is not None:
            operation["parameters"].append({"in": "query", "schema": route.query})
        if route.auth != PUBLIC:
            operation["security"] = [{"bearer": []}]
            if route.auth == MACHINE:
                operation["description"] = "Takes an API token (machine client)."
        if route.body is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": route.body}}}
        ok = {"description": "OK"}
        if route.content_type:
            ok["content"] = {route.content_type: {"schema": {"type": "string"}}}
        elif route.response is not None:
            schema = {"type": "array", "items": route.response} if route.many else route.response
            ok["content"] = {"application/json": {"schema": schema}}
        operation["responses"][str(route.status)] = ok if route.status != 204 else {"description": "No content"}
        codes = dict(COMMON_ERRORS)
        for code in route.errors:
            codes.setdefault(str(http_status(code)), code)
        for status, description in codes.items():
            operation["responses"].setdefault(
                status, {"description": description,
                         "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            )
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()
