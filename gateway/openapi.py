"""The OpenAPI document, generated from the routes' marshmallow schemas."""
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from contracts.identity import API_TOKEN_SCOPES
from gateway.http import MACHINE, MAX_URI_BYTES, PUBLIC, ROUTES, is_id_parameter
from gateway.statuses import http_status


class ErrorBody(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Dict()


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBody, required=True)


class ScimErrorSchema(Schema):
    """RFC 7644 3.12: the errors of /scim/v2/ (application/scim+json)."""
    schemas = fields.List(fields.String(), required=True)
    status = fields.String(required=True)
    scimType = fields.String()
    detail = fields.String()


SCIM_PREFIX = "/scim/"
SCIM_MEDIA = "application/scim+json"


# What every operation can answer: any request may carry a NUL (400), a
# non-UUID id or name another organization's object (404), a URI that is too
# long (414); a service may be down (503); a defect is a 500 in the error shape.
COMMON_ERRORS = {
    "400": "Invalid input (details name the fields, with a field code)",
    "401": "No or bad credentials",
    "404": "Not found, or not yours (an id that is not a UUID included)",
    "414": f"The path and query are longer than {MAX_URI_BYTES} bytes (URI_TOO_LONG)",
    "500": "A defect (INTERNAL); quote X-Request-Id to support",
    "503": "A service did not answer in time or is down",
}
SIGNED_IN_ERRORS = {"403": "Not allowed: the caller's role, or an API token without the scope this needs"}
BODY_ERRORS = {
    "413": "The body is too large (PAYLOAD_TOO_LARGE)",
    "415": "The body is not sent with the content type this takes (UNSUPPORTED_MEDIA_TYPE)",
}
CHANGE_ERRORS = {"422": "A rule refuses the request (the code says which)"}


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


def error_statuses(route) -> dict[str, str]:
    """Every error status the operation can answer, with a description."""
    codes = dict(COMMON_ERRORS)
    if route.auth != PUBLIC:
        codes.update(SIGNED_IN_ERRORS)
    if route.body is not None or route.upload is not None:
        codes.update(BODY_ERRORS)
    if route.method != "GET":
        codes.update(CHANGE_ERRORS)
    for code in route.errors:
        status = str(http_status(code))
        if code not in codes.get(status, ""):
            codes[status] = f"{codes[status]}; {code}" if status in codes else code
    return codes


def build_spec() -> dict:
    spec = APISpec(
        title="Learning admin platform API",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin(schema_name_resolver=unique_names())],
        info={"description": "Gateway of the enterprise learning administration suite. Errors: "
                             '{"error": {"code", "message", "details"}}.'},
    )
    spec.components.security_scheme("bearer", {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "A person's access token (POST /v1/auth/login)."})
    spec.components.security_scheme("apiToken", {
        "type": "http", "scheme": "bearer", "bearerFormat": "lat_...",
        "description": "An organization's API token (machine clients), sent as a bearer token; it reaches the "
                       "operations whose x-api-token-scope it holds. Scopes: "
                       + "; ".join(f"{name}: {what}" for name, what in API_TOKEN_SCOPES.items()) + "."})
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.schema("ScimError", schema=ScimErrorSchema)
    paths: dict[str, dict] = {}
    for route in ROUTES:
        parameters = [
            {"in": "path", "name": name, "required": True,
             "schema": {"type": "string", "format": "uuid"} if is_id_parameter(name) else {"type": "string"}}
            for name in re.findall(r"\{(\w+)\}", route.path)
        ]
        operation = {
            "summary": route.summary,
            "tags": list(route.tags) or [route.path.split("/")[2]],
            "operationId": f"{route.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', route.path.lower()).strip('_')}",
            "responses": {},
            "parameters": parameters,
        }
        if route.query is not None:
            operation["parameters"].append({"in": "query", "schema": route.query})
        if route.auth == MACHINE:
            operation["security"] = [{"apiToken": []}]
        elif route.auth != PUBLIC:
            operation["security"] = [{"bearer": []}] + ([{"apiToken": []}] if route.scope else [])
        if route.scope:
            # OpenAPI 3.0 has scopes for OAuth2 only: the needed scope is an extension and said in words.
            operation["x-api-token-scope"] = route.scope
            operation["description"] = f"API tokens with the scope `{route.scope}` may call this too." \
                if route.auth != MACHINE else f"Takes an API token with the scope `{route.scope}`."
        if route.body is not None:
            operation["requestBody"] = {"required": True, "content": {
                media: {"schema": route.body} for media in sorted(set(route.media_types) | {"application/json"})}}
        if route.upload is not None:
            operation["requestBody"] = {"required": True,
                                        "content": {"multipart/form-data": {"schema": route.upload}}}
        ok = {"description": "OK"}
        if route.content_type:
            ok["content"] = {route.content_type: {"schema": {"type": "string"}}}
        elif route.response is not None:
            schema = {"type": "array", "items": route.response} if route.many else route.response
            ok["content"] = {"application/json": {"schema": schema}}
        operation["responses"][str(route.status)] = ok if route.status != 204 else {"description": "No content"}
        for status, (description, content_type, schema) in route.responses.items():
            operation["responses"][str(status)] = {
                "description": description,
                "content": {content_type: {"schema": schema if schema is not None else {"type": "string"}}}}
        scim = route.path.startswith(SCIM_PREFIX)
        error_content = {SCIM_MEDIA: {"schema": {"$ref": "#/components/schemas/ScimError"}}} if scim \
            else {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for status, description in sorted(error_statuses(route).items()):
            operation["responses"].setdefault(status, {"description": description, "content": error_content})
        if scim:
            operation["responses"].setdefault("412", {"description": "If-Match names another version "
                                                                     "(PRECONDITION_FAILED)", "content": error_content})
            operation["responses"].setdefault("409", {"description": "uniqueness (userName, externalId, "
                                                                     "displayName)", "content": error_content})
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()
