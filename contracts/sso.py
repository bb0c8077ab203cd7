"""identity's single sign-on (issue 17, docs/sso.md): connections to an
organization's identity provider (OpenID Connect or SAML 2.0), verified email
domains, the organization's SSO policy, and the event the audit log records
for each change. Sign-ins themselves are identity.sign_in.* events with the
method OIDC or SAML (contracts.identity)."""
from enum import StrEnum

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from contracts.common import name_field, text_field, values
from contracts.domains import DomainName
from contracts.fields import Id, StrictInteger
from contracts.registry import Event


class SsoKind(StrEnum):
    OIDC = "OIDC"
    SAML = "SAML"


class DomainProof(StrEnum):
    ADMIN = "ADMIN"  # recorded verified by the platform's operator (identity's command line `verify-domain`)
    DNS_TXT = "DNS_TXT"  # an org admin published the domain's TXT record and identity found it ("check now")


class DomainCheck(StrEnum):
    """The outcome of a domain's last "check now" (docs/sso.md, "Verifying a domain")."""
    VERIFIED = "VERIFIED"  # the TXT record holds the domain's value: verified
    NOT_FOUND = "NOT_FOUND"  # no TXT record at either name (not published yet, or not visible yet)
    VALUE_MISMATCH = "VALUE_MISMATCH"  # TXT records exist but none is this domain's value
    DNS_UNREACHABLE = "DNS_UNREACHABLE"  # no name server answered in time (try again later)


# The TXT record an organization publishes to prove it owns a domain: at this
# name under the domain (or at the domain itself), this prefix and the domain's value.
TXT_RECORD_LABEL = "_learnadmin-verification"
TXT_VALUE_PREFIX = "learnadmin-domain-verification="


# The organization profile fields a connection maps from the provider's claims or
# attributes, refreshed at every sign-in; plus `email` (the account) and `full_name`.
MAPPABLE_FIELDS = ("email", "full_name", "external_id", "manager_name", "manager_email", "job_title", "job_type",
                   "business_unit", "business_unit_2", "location_city", "location_country", "location_region")
DEFAULT_OIDC_MAPPING = {"email": "email", "full_name": "name", "external_id": "sub"}
DEFAULT_SAML_MAPPING = {"email": "email", "full_name": "displayName", "external_id": "NameID"}
ATTRIBUTE_NAME = validate.Regexp(r"^[A-Za-z0-9_.:/\-]{1,200}$",
                                 error="an attribute or claim name: letters, digits and _ . : / -")
MAX_METADATA_BYTES = 256 * 1024


class AutoJoinSchema(Schema):
    """A program that people signing in through the connection join, and the contract their license comes from."""
    program_id = Id(required=True)
    contract_id = Id(required=True)


def _mapping_keys(value: dict) -> None:
    unknown = sorted(set(value) - set(MAPPABLE_FIELDS))
    if unknown:
        raise ValidationError(f"unknown profile fields {unknown}; mappable: {list(MAPPABLE_FIELDS)}")


class SsoConnectionInput(Schema):
    """What an org admin sets on a connection. `client_secret` is write-only:
    stored encrypted (identity's SSO_SECRET_KEY), never answered."""
    kind = fields.String(validate=validate.OneOf(values(SsoKind)))
    name = name_field(max_length=200)
    enabled = fields.Boolean()
    # OpenID Connect
    issuer = fields.Url(schemes={"https", "http"}, allow_none=True, validate=validate.Length(max=2000),
                        metadata={"description": "the provider's issuer; its discovery document is "
                                                 "{issuer}/.well-known/openid-configuration"})
    client_id = text_field(500, allow_none=True)
    client_secret = text_field(2000, allow_none=True, load_only=True)
    scopes = fields.List(fields.String(validate=validate.Regexp(r"^[\x21\x23-\x5b\x5d-\x7e]{1,100}$")),
                         validate=validate.Length(max=20))
    # SAML 2.0
    idp_metadata_url = fields.Url(schemes={"https", "http"}, allow_none=True, validate=validate.Length(max=2000))
    idp_metadata_xml = fields.String(allow_none=True, validate=validate.Length(max=MAX_METADATA_BYTES))
    clock_skew_seconds = StrictInteger(validate=validate.Range(0, 600))
    # both
    attribute_mapping = fields.Dict(keys=fields.String(), values=fields.String(validate=ATTRIBUTE_NAME),
                                    validate=_mapping_keys)
    auto_join = fields.List(fields.Nested(AutoJoinSchema), validate=validate.Length(max=50))


class NewSsoConnectionInput(SsoConnectionInput):
    kind = fields.String(required=True, validate=validate.OneOf(values(SsoKind)))
    name = name_field(max_length=200, required=True)

    @validates_schema
    def _complete(self, data, **kwargs):
        if data["kind"] == SsoKind.OIDC:
            missing = [k for k in ("issuer", "client_id", "client_secret") if not data.get(k)]
            if missing:
                raise ValidationError({k: ["required for an OpenID Connect connection"] for k in missing})
        elif not (data.get("idp_metadata_url") or data.get("idp_metadata_xml")):
            raise ValidationError({"idp_metadata_xml": ["a SAML connection needs the IdP's metadata (XML or URL)"]})


class SsoConnectionSchema(Schema):
    id = fields.String(required=True)
    org_id = fields.String(required=True)
    kind = fields.String(required=True)
    name = fields.String(required=True)
    enabled = fields.Boolean(required=True)
    issuer = fields.String(allow_none=True)
    client_id = fields.String(allow_none=True)
    client_secret_set = fields.Boolean(metadata={"description": "a client secret is stored (never shown)"})
    scopes = fields.List(fields.String())
    idp_metadata_url = fields.String(allow_none=True)
    idp_entity_id = fields.String(allow_none=True)
    clock_skew_seconds = fields.Integer()
    attribute_mapping = fields.Dict()
    auto_join = fields.List(fields.Nested(AutoJoinSchema))
    # what the admin gives their identity provider
    start_url = fields.String(metadata={"description": "opens a sign-in through this connection"})
    redirect_uri = fields.String(allow_none=True, metadata={"description": "OIDC: the redirect (callback) URI"})
    acs_url = fields.String(allow_none=True, metadata={"description": "SAML: the assertion consumer service URL"})
    sp_entity_id = fields.String(allow_none=True, metadata={"description": "SAML: this service provider's entity id"})
    sp_metadata_url = fields.String(allow_none=True, metadata={"description": "SAML: this service provider's metadata"})
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime(allow_none=True)


class SsoDomainInput(Schema):
    domain = DomainName(required=True, metadata={
        "description": "a host name (an internationalized one is kept in its IDNA form); no wildcard, "
                       "not a public suffix itself (com, co.uk)"})


class TxtRecordSchema(Schema):
    """What to publish in the domain's DNS to prove the organization owns it."""
    type = fields.String(required=True, metadata={"example": "TXT"})
    name = fields.String(required=True, metadata={
        "description": "the record's name: `_learnadmin-verification.<domain>` (the domain itself is accepted too)"})
    value = fields.String(required=True, metadata={
        "description": "the record's value, random for this organization and domain (not a secret)"})
    also_accepted_at = fields.String(required=True, metadata={"description": "the domain itself"})


class ActorSchema(Schema):
    kind = fields.String(required=True, metadata={"description": "person or api_token"})
    id = fields.String(required=True)


class SsoDomainSchema(Schema):
    id = fields.String(required=True)
    org_id = fields.String(required=True)
    domain = fields.String(required=True)
    verified = fields.Boolean(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["PENDING", "VERIFIED"]))
    verified_at = fields.AwareDateTime(allow_none=True)
    verified_by = fields.Nested(ActorSchema, allow_none=True, metadata={
        "description": "who verified it (the org admin or token that checked it); null for the operator"})
    proof = fields.String(allow_none=True, metadata={
        "description": "how it was verified: DNS_TXT (the TXT record, checked here) or ADMIN (the operator)"})
    verification = fields.Nested(TxtRecordSchema, allow_none=True, metadata={
        "description": "the TXT record to publish (null once verified by the operator without one)"})
    last_checked_at = fields.AwareDateTime(allow_none=True)
    last_check = fields.String(allow_none=True, validate=validate.OneOf(values(DomainCheck)), metadata={
        "description": "the last check's outcome: VERIFIED, NOT_FOUND, VALUE_MISMATCH, DNS_UNREACHABLE"})
    last_check_message = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()


class SsoPolicyInput(Schema):
    only_sso = fields.Boolean(required=True, metadata={
        "description": "password sign-in refused for addresses in the verified domains (org admins excepted)"})


class SsoPolicySchema(Schema):
    org_id = fields.String(required=True)
    only_sso = fields.Boolean(required=True)


class SsoOptionSchema(Schema):
    """A way to sign in with the company account (the sign-in page's discovery)."""
    connection_id = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    organization_name = fields.String(allow_none=True)
    start_url = fields.String(required=True)


# ---- events -------------------------------------------------------------


class SsoConfigChanged(Schema):
    """An org admin changed the organization's single sign-on: a connection,
    a domain or the policy (the audit log's `sso.<thing>_<change>`)."""
    org_id = fields.String(required=True)
    thing = fields.String(required=True, validate=validate.OneOf(["connection", "domain", "policy"]))
    change = fields.String(required=True, validate=validate.OneOf(
        ["created", "updated", "deleted", "verified", "checked"]))
    target_id = fields.String(allow_none=True)
    label = fields.String(allow_none=True)
    changed = fields.List(fields.String(), load_default=list)
    previous = fields.Dict(allow_none=True, load_default=None)
    current = fields.Dict(allow_none=True, load_default=None)


SSO_CONFIG_CHANGED = Event("identity.sso.config_changed.v1", SsoConfigChanged)

