"""SCIM 2.0 provisioning (RFC 7643 / 7644; docs/scim.md): the schema URNs the
gateway and identity share, and (from contracts/identity.py) the events
identity publishes about what an identity provider changed (the audit log's)."""
from enum import StrEnum

from marshmallow import Schema, fields

# the events are identity's (contracts/identity.py), named here too for SCIM's code
from contracts.identity import (  # noqa: F401
    SCIM_ENTITLEMENTS_CHANGED,
    SCIM_GROUP_CHANGED,
    SCIM_GROUP_MAPPING_CHANGED,
    SCIM_USER_CHANGED,
    GroupChange,
    MappingChange,
    ScimEntitlement,
    UserChange,
)

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SERVICE_PROVIDER_CONFIG = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
CONTENT_TYPE = "application/scim+json"
MAX_PAGE = 200  # count above this is lowered to it (RFC 7644 3.4.2.4 lets the service provider)
MAX_OPERATIONS = 1000  # PATCH operations per request


class ScimType(StrEnum):
    """RFC 7644 3.12's scimType values (details.scimType of an AppError)."""
    INVALID_FILTER = "invalidFilter"
    TOO_MANY = "tooMany"
    UNIQUENESS = "uniqueness"
    MUTABILITY = "mutability"
    INVALID_SYNTAX = "invalidSyntax"
    INVALID_PATH = "invalidPath"
    NO_TARGET = "noTarget"
    INVALID_VALUE = "invalidValue"
    INVALID_VERS = "invalidVers"
    SENSITIVE = "sensitive"


class GroupMappingSchema(Schema):
    """An org admin's rule: members of the SCIM group with this display name join the program, charged to the
    contract."""
    id = fields.String(dump_only=True)
    display_name = fields.String(required=True)
    program_id = fields.String(required=True)
    contract_id = fields.String(required=True)
    created_by = fields.String(allow_none=True, dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
