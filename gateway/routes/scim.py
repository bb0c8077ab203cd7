"""SCIM 2.0 (RFC 7643 / 7644) for organizations' identity providers, and the
org admins' group-to-program mappings (docs/scim.md).

`/scim/v2/...` takes an API token of scope `scim`; the organization is the
token's (one URL for every organization, nothing in the path to get wrong).
Bodies are `application/scim+json` (or `application/json`), taken as sent
(identity reads them: unknown attributes are ignored); answers and errors are
`application/scim+json`, errors in RFC 7644 3.12's shape with `scimType`.
Writes answer from identity's result only: what a change means for programs
and invitations (joins, removals, invitations, deprovisioning) is published
by identity in the same transaction (identity.scim.entitlements_changed.v1)
and applied by those services from the event, after the answer (docs/scim.md,
"How the effects flow")."""
import json

from marshmallow import Schema, fields
from werkzeug.wrappers import Response

from contracts.common import name_field, text_field
from contracts.errors import AppError, ErrorCode
from contracts.fields import Id
from contracts.scim import (
    CONTENT_TYPE,
    CORE_GROUP,
    CORE_USER,
    ENTERPRISE_USER,
    ERROR,
    LIST_RESPONSE,
    MAX_PAGE,
    GroupMappingSchema,
    ScimType,
)
from gateway.http import ERROR_FORMATS, MACHINE, Reply, response_for_exception, route
from gateway.routes import Routes
from gateway.routes.scim_schemas import (
    LEARNADMIN_USER,
    SCHEMAS,
    resource_types,
    service_provider_config,
)

SCOPE = "scim"
MEDIA_TYPES = (CONTENT_TYPE, "application/json")
MAX_SCIM_BYTES = 1024 * 1024  # as ServiceProviderConfig says (bulk is not supported)
DEFAULT_SCIM_TYPES = {ErrorCode.MALFORMED_JSON: ScimType.INVALID_SYNTAX, ErrorCode.CONFLICT: ScimType.UNIQUENESS,
                      ErrorCode.INVALID_INPUT: ScimType.INVALID_VALUE}


# ---------------------------------------------------------------- answers


def scim_error(exc: BaseException) -> Response:
    """Any refusal as a SCIM error (RFC 7644 3.12): the gateway's own status and
    message, `scimType` where SCIM has one."""
    plain = response_for_exception(exc)
    try:
        error = json.loads(plain.get_data())["error"]
    except (ValueError, KeyError):
        error = {"code": "INTERNAL", "message": "internal error", "details": {}}
    details = error.get("details") if isinstance(error.get("details"), dict) else {}
    body = {"schemas": [ERROR], "status": str(plain.status_code), "detail": error["message"]}
    scim_type = details.get("scimType") or DEFAULT_SCIM_TYPES.get(error["code"])
    if scim_type and plain.status_code in (400, 409, 413):
        body["scimType"] = str(scim_type if plain.status_code != 413 else ScimType.TOO_MANY)
    fields_named = {k: v for k, v in details.items() if k != "scimType"}
    if fields_named:
        body["detail"] = f"{error['message']}: " + "; ".join(
            f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in list(fields_named.items())[:5])
    headers = {k: v for k, v in plain.headers.items() if k in ("Retry-After", "WWW-Authenticate")}
    if plain.status_code == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="scim"'
    return Response(json.dumps(body), status=plain.status_code, headers=headers, content_type=CONTENT_TYPE)


ERROR_FORMATS["/scim/"] = scim_error


def scim_reply(body, status: int = 200, location: str | None = None) -> Response:
    headers = {}
    version = (body.get("meta") or {}).get("version") if isinstance(body, dict) else None
    if version:
        headers["ETag"] = version
    if location:
        headers["Location"] = location
    return Response(json.dumps(body, default=str), status=status, headers=headers, content_type=CONTENT_TYPE)


# ---------------------------------------------------------------- documented shapes (OpenAPI)


class ScimResource(Schema):
    """A SCIM resource (RFC 7643): the attributes of its schemas; unknown ones are ignored."""
    schemas = fields.List(fields.String(), metadata={"description": "the resource's schema URNs"})
    id = fields.String(dump_only=True)
    externalId = fields.String(allow_none=True)
    meta = fields.Dict(dump_only=True)


class ScimUserResource(ScimResource):
    userName = fields.String(required=True, metadata={"description": "unique in the organization, "
                                                                     "case-insensitive"})
    active = fields.Raw(metadata={"description": "true/false (Entra's \"True\"/\"False\" strings accepted); "
                                                 "false deprovisions"})
    displayName = fields.String(allow_none=True)
    name = fields.Dict(metadata={"description": "givenName, familyName, formatted"})
    emails = fields.List(fields.Dict(), metadata={"description": "the primary (else work, else first) is the "
                                                                 "account's address"})
    title = fields.String(allow_none=True)
    userType = fields.String(allow_none=True)
    addresses = fields.List(fields.Dict(), metadata={"description": "work: locality, region, country"})


class ScimGroupResource(ScimResource):
    displayName = fields.String(required=True, metadata={"description": "a mapping by this name makes members join "
                                                                        "its program"})
    members = fields.List(fields.Dict(), metadata={"description": "[{value: user id}]"})


class ScimPatch(Schema):
    """RFC 7644 3.5.2: add, replace, remove (any case), with or without a path."""
    schemas = fields.List(fields.String())
    Operations = fields.List(fields.Dict(), required=True)


class ScimList(Schema):
    schemas = fields.List(fields.String())
    totalResults = fields.Integer()
    startIndex = fields.Integer()
    itemsPerPage = fields.Integer()
    Resources = fields.List(fields.Dict())


class ScimErrorBody(Schema):
    schemas = fields.List(fields.String())
    status = fields.String()
    scimType = fields.String()
    detail = fields.String()


class AttributesQuery(Schema):
    excludedAttributes = text_field(500, metadata={"description": "`members` leaves groups' members out"})
    attributes = text_field(500, metadata={"description": "accepted, ignored: every attribute is returned"})


class ListQuery(AttributesQuery):
    filter = text_field(2000, metadata={"description": "RFC 7644 3.4.2.2, e.g. userName eq \"ada@acme.example\""})
    startIndex = fields.Integer(strict=False, metadata={"description": "1-based; below 1 counts as 1"})
    count = fields.Integer(strict=False, metadata={"description": f"at most {MAX_PAGE}; 0 answers totalResults "
                                                                  "only"})


class MappingBody(Schema):
    display_name = name_field(200, required=True)
    program_id = Id(required=True)
    contract_id = Id(required=True)


def scim_route(method: str, path: str, *, summary: str, body=None, query=None, response=None, status: int = 200,
               errors: tuple = ()):
    """A SCIM endpoint: API tokens of scope `scim`, SCIM media types, SCIM errors."""
    responses = {status: ("OK" if status != 204 else "No content", CONTENT_TYPE, response)} if status != 204 else {}
    return route(method, path, summary=summary, auth=MACHINE, scope=SCOPE, body=body, query=query,
                 status=status, tags=("scim",), errors=errors, raw_body=True, media_types=MEDIA_TYPES,
                 max_bytes=MAX_SCIM_BYTES, responses=responses, content_type=CONTENT_TYPE if status != 204 else None)


def page_params(query: dict) -> tuple[int, int]:
    start = query.get("startIndex")
    count = query.get("count")
    start = 1 if start is None or start < 1 else start
    count = 100 if count is None else max(0, min(count, MAX_PAGE))
    if start > 10_000_000:
        raise AppError(ErrorCode.INVALID_INPUT, "startIndex is too large",
                       {"scimType": ScimType.INVALID_VALUE, "startIndex": ["at most 10000000"]})
    return start, count


def with_members(query: dict) -> bool:
    """Groups answer their members unless `excludedAttributes` names them (RFC 7644 3.4.2.5)."""
    return "members" not in (query.get("excludedAttributes") or "").lower()


def list_response(result: dict, start: int, resources: list) -> dict:
    return {"schemas": [LIST_RESPONSE], "totalResults": result["total"], "startIndex": start,
            "itemsPerPage": len(resources), "Resources": resources}


class ScimRoutes(Routes):
    # ---------------------------------------------------------------- helpers

    def _org(self, call) -> str:
        return call.principal.api_org_id

    @staticmethod
    def _base(call) -> str:
        return call.request.host_url.rstrip("/") + "/scim/v2"

    def _located(self, call, resource: dict, kind: str) -> dict:
        resource["meta"]["location"] = f"{self._base(call)}/{kind}/{resource['id']}"
        return resource

    def _changed(self, call, result: dict, kind: str, created: bool = False) -> Response:
        """A write's answer: the resource (201 with its Location when created). Its effects on programs and
        invitations follow from identity's event, not from here."""
        resource = self._located(call, result["resource"], kind)
        return scim_reply(resource, 201 if created else 200, location=resource["meta"]["location"] if created else None)

    # ---------------------------------------------------------------- Users

    @scim_route("GET", "/scim/v2/Users", query=ListQuery, response=ScimList,
                summary="SCIM: list the organization's provisioned users (filter, startIndex, count)")
    def scim_list_users(self, call):
        start, count = page_params(call.query)
        result = self.identity.scim_list_users(self._org(call), call.query.get("filter"), start, count)
        resources = [self._located(call, r, "Users") for r in result["resources"]]
        return scim_reply(list_response(result, start, resources))

    @scim_route("POST", "/scim/v2/Users", body=ScimUserResource, response=ScimUserResource, status=201,
                summary="SCIM: provision a user (an existing account of that email is linked, never changed)")
    def scim_create_user(self, call):
        org_id = self._org(call)
        return self._changed(call, self.identity.scim_create_user(org_id, call.body), "Users", created=True)

    @scim_route("GET", "/scim/v2/Users/{user_id}", response=ScimUserResource, summary="SCIM: a user")
    def scim_get_user(self, call, user_id):
        return scim_reply(self._located(call, self.identity.scim_get_user(self._org(call), user_id), "Users"))

    @scim_route("PUT", "/scim/v2/Users/{user_id}", body=ScimUserResource, response=ScimUserResource,
                summary="SCIM: replace a user (active: false deprovisions; If-Match honoured)")
    def scim_replace_user(self, call, user_id):
        org_id = self._org(call)
        result = self.identity.scim_replace_user(org_id, user_id, call.body, call.request.headers.get("If-Match"))
        return self._changed(call, result, "Users")

    @scim_route("PATCH", "/scim/v2/Users/{user_id}", body=ScimPatch, response=ScimUserResource,
                summary="SCIM: patch a user (add, replace, remove; Entra's and Okta's forms)")
    def scim_patch_user(self, call, user_id):
        org_id = self._org(call)
        result = self.identity.scim_patch_user(org_id, user_id, call.body, call.request.headers.get("If-Match"))
        return self._changed(call, result, "Users")

    @scim_route("DELETE", "/scim/v2/Users/{user_id}", status=204,
                summary="SCIM: deprovision a user and forget the SCIM resource (account and history stay)")
    def scim_delete_user(self, call, user_id):
        # identity publishes the deprovisioning with the deletion (one transaction): programs and invitations
        # apply it when they can, nothing is lost if they are down now.
        self.identity.scim_delete_user(self._org(call), user_id)
        return Reply(status=204)

    # ---------------------------------------------------------------- Groups

    @scim_route("GET", "/scim/v2/Groups", query=ListQuery, response=ScimList,
                summary="SCIM: list the organization's groups (filter, startIndex, count)")
    def scim_list_groups(self, call):
        start, count = page_params(call.query)
        result = self.identity.scim_list_groups(self._org(call), call.query.get("filter"), start, count,
                                                with_members(call.query))
        resources = [self._located(call, r, "Groups") for r in result["resources"]]
        return scim_reply(list_response(result, start, resources))

    @scim_route("POST", "/scim/v2/Groups", body=ScimGroupResource, response=ScimGroupResource, status=201,
                summary="SCIM: create a group (its members join the program a mapping of its name names)")
    def scim_create_group(self, call):
        org_id = self._org(call)
        return self._changed(call, self.identity.scim_create_group(org_id, call.body), "Groups", created=True)

    @scim_route("GET", "/scim/v2/Groups/{group_id}", query=AttributesQuery, response=ScimGroupResource,
                summary="SCIM: a group")
    def scim_get_group(self, call, group_id):
        group = self.identity.scim_get_group(self._org(call), group_id, with_members(call.query))
        return scim_reply(self._located(call, group, "Groups"))

    @scim_route("PUT", "/scim/v2/Groups/{group_id}", body=ScimGroupResource, response=ScimGroupResource,
                summary="SCIM: replace a group (members added join, members gone leave the mapped program)")
    def scim_replace_group(self, call, group_id):
        org_id = self._org(call)
        result = self.identity.scim_replace_group(org_id, group_id, call.body, call.request.headers.get("If-Match"))
        return self._changed(call, result, "Groups")

    @scim_route("PATCH", "/scim/v2/Groups/{group_id}", body=ScimPatch, response=ScimGroupResource,
                summary="SCIM: patch a group (add or remove members, rename)")
    def scim_patch_group(self, call, group_id):
        org_id = self._org(call)
        result = self.identity.scim_patch_group(org_id, group_id, call.body, call.request.headers.get("If-Match"))
        return self._changed(call, result, "Groups")

    @scim_route("DELETE", "/scim/v2/Groups/{group_id}", status=204,
                summary="SCIM: delete a group (its members leave the mapped program)")
    def scim_delete_group(self, call, group_id):
        self.identity.scim_delete_group(self._org(call), group_id)
        return Reply(status=204)

    # ---------------------------------------------------------------- discovery (RFC 7644 4)

    @scim_route("GET", "/scim/v2/ServiceProviderConfig", response=ScimResource,
                summary="SCIM: what this service provider supports")
    def scim_service_provider_config(self, call):
        return scim_reply(service_provider_config(self._base(call)))

    @scim_route("GET", "/scim/v2/ResourceTypes", response=ScimList, summary="SCIM: User and Group")
    def scim_resource_types(self, call):
        types = resource_types(self._base(call))
        return scim_reply({"schemas": [LIST_RESPONSE], "totalResults": len(types), "startIndex": 1,
                           "itemsPerPage": len(types), "Resources": types})

    @scim_route("GET", "/scim/v2/ResourceTypes/{name}", response=ScimResource, summary="SCIM: one resource type")
    def scim_resource_type(self, call, name):
        for resource_type in resource_types(self._base(call)):
            if resource_type["id"].lower() == name.lower():
                return scim_reply(resource_type)
        raise AppError(ErrorCode.NOT_FOUND, "resource type not found")

    @scim_route("GET", "/scim/v2/Schemas", response=ScimList, summary="SCIM: the schemas of User and Group")
    def scim_schemas(self, call):
        found = [self._schema(call, urn) for urn in SCHEMAS]
        return scim_reply({"schemas": [LIST_RESPONSE], "totalResults": len(found), "startIndex": 1,
                           "itemsPerPage": len(found), "Resources": found})

    @scim_route("GET", "/scim/v2/Schemas/{urn}", response=ScimResource, summary="SCIM: one schema")
    def scim_schema(self, call, urn):
        for known in SCHEMAS:
            if known.lower() == urn.lower():
                return scim_reply(self._schema(call, known))
        raise AppError(ErrorCode.NOT_FOUND, "schema not found")

    def _schema(self, call, urn: str) -> dict:
        schema = dict(SCHEMAS[urn])
        schema["meta"] = {"resourceType": "Schema", "location": f"{self._base(call)}/Schemas/{urn}"}
        return schema

    # ---------------------------------------------------------------- group mappings (org admins)

    @route("GET", "/v1/orgs/{org_id}/scim/group-mappings", response=GroupMappingSchema, many=True,
           tags=("scim",), summary="SCIM group mappings: members of a group of this name join this program")
    def list_group_mappings(self, call, org_id):
        call.principal.require_org_admin(org_id)
        return self.identity.list_scim_group_mappings(org_id)

    @route("PUT", "/v1/orgs/{org_id}/scim/group-mappings", body=MappingBody, response=GroupMappingSchema,
           tags=("scim",), summary="Set the mapping of a SCIM group name to a program and the contract its joins "
                                   "are charged to (replaces that name's mapping)")
    def set_group_mapping(self, call, org_id):
        call.principal.require_org_admin(org_id)
        body = call.body
        self.programs.program_with_contract(org_id, body["program_id"], body["contract_id"])  # 404 if not theirs
        return self.identity.set_scim_group_mapping(org_id, body["display_name"].strip(), body["program_id"],
                                                    body["contract_id"], call.principal.user_id)

    @route("DELETE", "/v1/orgs/{org_id}/scim/group-mappings/{mapping_id}", status=204, tags=("scim",),
           summary="Remove a SCIM group mapping (its group's members leave the program, as when they leave the "
                   "group)")
    def remove_group_mapping(self, call, org_id, mapping_id):
        call.principal.require_org_admin(org_id)
        self.identity.remove_scim_group_mapping(org_id, mapping_id)
        return Reply(status=204)


__all__ = ["ScimRoutes", "CORE_USER", "CORE_GROUP", "ENTERPRISE_USER", "LEARNADMIN_USER"]
