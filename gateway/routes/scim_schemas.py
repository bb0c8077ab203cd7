"""SCIM discovery documents (RFC 7644 section 4, RFC 7643 sections 5-7): what
this service provider supports, its resource types, and the schemas of the
attributes it keeps (docs/scim.md, "Attribute mapping"). Static."""
from contracts.scim import (
    CORE_GROUP,
    CORE_USER,
    ENTERPRISE_USER,
    MAX_PAGE,
    RESOURCE_TYPE,
    SCHEMA,
    SERVICE_PROVIDER_CONFIG,
)

LEARNADMIN_USER = "urn:ietf:params:scim:schemas:extension:learnadmin:2.0:User"


def attribute(name: str, kind: str = "string", *, multi: bool = False, required: bool = False,
              mutability: str = "readWrite", returned: str = "default", uniqueness: str = "none",
              case_exact: bool = False, sub: list | None = None, description: str = "") -> dict:
    found = {"name": name, "type": kind, "multiValued": multi, "description": description, "required": required,
             "mutability": mutability, "returned": returned, "uniqueness": uniqueness}
    if kind in ("string", "reference"):
        found["caseExact"] = case_exact
    if sub:
        found["subAttributes"] = sub
    return found


USER_ATTRIBUTES = [
    attribute("userName", required=True, uniqueness="server",
              description="Unique in the organization (case-insensitive). An address when no email is given."),
    attribute("name", "complex", sub=[
        attribute("formatted", description="The organization's name for the person (profile full name)."),
        attribute("givenName"), attribute("familyName")]),
    attribute("displayName", description="Shown when no name.formatted is given."),
    attribute("title", description="Profile: Job Title."),
    attribute("userType", description="Profile: Job Type."),
    attribute("active", "boolean", description="false deprovisions: the person leaves every program of the "
                                               "organization."),
    attribute("emails", "complex", multi=True, sub=[
        attribute("value", description="The primary (else work, else first) is the account's address: set at "
                                       "creation, immutable afterwards."),
        attribute("type"), attribute("primary", "boolean")]),
    attribute("addresses", "complex", multi=True, sub=[
        attribute("locality", description="Profile: Location City."),
        attribute("region", description="Profile: Location Region."),
        attribute("country", description="Profile: Location Country."), attribute("type")]),
    attribute("groups", "complex", multi=True, mutability="readOnly", sub=[
        attribute("value", mutability="readOnly"), attribute("display", mutability="readOnly")]),
    attribute("externalId", case_exact=True, description="Profile: External Id (unique in the organization)."),
]
ENTERPRISE_ATTRIBUTES = [
    attribute("department", description="Profile: Business Unit."),
    attribute("division", description="Profile: Business Unit 2."),
    attribute("manager", "complex", sub=[
        attribute("value", description="The manager's SCIM id (their email becomes Manager Email) or an address."),
        attribute("displayName", description="Profile: Manager Name.")]),
]
LEARNADMIN_ATTRIBUTES = [
    attribute("managerEmail", description="Profile: Manager Email (when the manager is not a provisioned user)."),
]
GROUP_ATTRIBUTES = [
    attribute("displayName", required=True, uniqueness="server",
              description="A group mapping of this name (org admins) makes members join its program."),
    attribute("members", "complex", multi=True, sub=[
        attribute("value", mutability="immutable", description="A user id of this organization."),
        attribute("display", mutability="readOnly"), attribute("type", mutability="readOnly")]),
    attribute("externalId", case_exact=True),
]


def _schema(urn: str, name: str, description: str, attributes: list) -> dict:
    return {"schemas": [SCHEMA], "id": urn, "name": name, "description": description, "attributes": attributes}


SCHEMAS = {
    CORE_USER: _schema(CORE_USER, "User", "A person of the organization", USER_ATTRIBUTES),
    ENTERPRISE_USER: _schema(ENTERPRISE_USER, "EnterpriseUser", "Enterprise User", ENTERPRISE_ATTRIBUTES),
    LEARNADMIN_USER: _schema(LEARNADMIN_USER, "LearnAdminUser", "Profile columns SCIM has no attribute for",
                             LEARNADMIN_ATTRIBUTES),
    CORE_GROUP: _schema(CORE_GROUP, "Group", "A group; mapped to a program by its name", GROUP_ATTRIBUTES),
}


def service_provider_config(base: str) -> dict:
    return {
        "schemas": [SERVICE_PROVIDER_CONFIG],
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_PAGE},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": True},
        "authenticationSchemes": [{
            "type": "oauthbearertoken", "name": "API token",
            "description": "An API token of scope scim (POST /v1/orgs/{org_id}/api-tokens), sent as a bearer token",
            "primary": True}],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base}/ServiceProviderConfig"},
    }


def resource_types(base: str) -> list[dict]:
    return [
        {"schemas": [RESOURCE_TYPE], "id": "User", "name": "User", "endpoint": "/Users", "schema": CORE_USER,
         "schemaExtensions": [{"schema": ENTERPRISE_USER, "required": False},
                              {"schema": LEARNADMIN_USER, "required": False}],
         "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"}},
        {"schemas": [RESOURCE_TYPE], "id": "Group", "name": "Group", "endpoint": "/Groups", "schema": CORE_GROUP,
         "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/Group"}},
    ]
