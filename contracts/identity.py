"""identity: events it publishes and the payloads of its RPC methods."""
from enum import StrEnum

from marshmallow import Schema, fields, validate

from contracts.common import ADMIN_ROLES, PageQuerySchema, email_field, multi_line_field, name_field, text_field, values
from contracts.fields import Id, StrictInteger
from contracts.registry import Event


class RegisteredVia(StrEnum):
    """How an account came to be."""
    SIGNUP = "SIGNUP"
    ADMIN_INVITE = "ADMIN_INVITE"
    INVITATION = "INVITATION"
    COMMAND = "COMMAND"
    SCIM = "SCIM"  # provisioned by the organization's identity provider (docs/scim.md)
    SSO = "SSO"  # just in time, at a single sign-on (issue 17)


class PasswordResetReason(StrEnum):
    RESET = "RESET"
    FIRST_PASSWORD = "FIRST_PASSWORD"  # a newly added admin's first password


class OneTimeTokenPurpose(StrEnum):
    VERIFY_EMAIL = "VERIFY_EMAIL"
    PASSWORD_RESET = "PASSWORD_RESET"


HEX_COLOR = validate.Regexp(r"^#[0-9a-fA-F]{6}$", error="must be a color like #1f4e79")
HTTPS_URL = fields.Url(schemes={"https", "http"}, allow_none=True, validate=validate.Length(max=2000))
COMPANY_SIZES = ("1-50", "51-200", "201-1000", "1001-5000", "5001-10000", "10000+")
REGIONS = ("NORTH_AMERICA", "LATIN_AMERICA", "EUROPE", "MIDDLE_EAST_AFRICA", "ASIA_PACIFIC")
# What an API token (machine client) may be granted; docs/api.md "API tokens".
# A token reads its own organization on the routes that name one of its
# scopes (the gateway enforces them); the reserved ones open no route yet.
API_TOKEN_SCOPES = {
    "org:read": "the organization's settings",
    "people:read": "people's organization profiles and the list of admins",
    "programs:read": "catalog, contracts, programs, their members and curricula",
    "invitations:read": "invitations of programs, bulk imports and their rejected rows",
    "messages:read": "admin messages and their delivery counts",
    "audit:read": "the organization's audit log and its CSV export",
    "activity:write": "send learning activity (POST /v1/activity, POST /v1/xapi/statements)",
    "reports:read": "the Usage, Membership and Specialization CSVs and course gradebooks (not emailed links)",
    "people:write": "reserved: people provisioning (identity provider sync)",
    "scim": "SCIM 2.0 provisioning by the organization's identity provider (/scim/v2/Users, /scim/v2/Groups)",
}
WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


class ReportScheduleSchema(Schema):
    frequency = fields.String(required=True, validate=validate.OneOf(["NONE", "DAILY", "WEEKLY", "MONTHLY"]))
    weekday = fields.String(allow_none=True, validate=validate.OneOf(WEEKDAYS))
    day_of_month = StrictInteger(allow_none=True, validate=validate.Range(1, 28))
    hour = StrictInteger(load_default=6, validate=validate.Range(0, 23))
    reports = fields.List(
        fields.String(validate=validate.OneOf(["usage", "membership", "specialization"])),
        load_default=["usage", "membership"],
    )


class OrgSettingsSchema(Schema):
    """Organization settings as admins read and change them."""

    name = name_field()
    brand_color = fields.String(allow_none=True, validate=HEX_COLOR)
    logo_url = fields.Url(allow_none=True, validate=validate.Length(max=2000))
    banner_url = fields.Url(allow_none=True, validate=validate.Length(max=2000))
    default_invitation_message = multi_line_field(2000, allow_none=True)
    report_schedule = fields.Nested(ReportScheduleSchema, allow_none=True)
    industry = text_field(100, allow_none=True)
    company_size = fields.String(allow_none=True, validate=validate.OneOf(COMPANY_SIZES))
    region = fields.String(allow_none=True, validate=validate.OneOf(REGIONS))
    timezone = text_field(64)
    subscription_start = fields.Date(allow_none=True)
    # skills: hide learners' names and emails on the skill mastery leaderboard
    anonymize_leaderboard = fields.Boolean()
    # SCIM deprovisioning sends the program exit email as an admin removal does, unless false (docs/scim.md)
    deprovision_exit_email = fields.Boolean()


class NewOrgSchema(OrgSettingsSchema):
    name = name_field(required=True)


class OrganizationSchema(OrgSettingsSchema):
    id = fields.String(required=True)
    created_at = fields.AwareDateTime()


class ProfileFieldsSchema(Schema):
    """An organization profile: where a person sits in the customer company."""

    external_id = text_field(200, allow_none=True)
    manager_name = text_field(200, allow_none=True)
    manager_email = email_field(allow_none=True)
    job_title = text_field(200, allow_none=True)
    job_type = text_field(200, allow_none=True)
    business_unit = text_field(200, allow_none=True)
    business_unit_2 = text_field(200, allow_none=True)
    location_city = text_field(200, allow_none=True)
    location_country = text_field(200, allow_none=True)
    location_region = text_field(200, allow_none=True)


class PersonInputSchema(ProfileFieldsSchema):
    """A person an RPC creates or finds (invitations, admins)."""
    email = email_field(required=True)
    full_name = name_field(required=True)


class PersonSchema(ProfileFieldsSchema):
    user_id = fields.String(required=True)
    org_id = fields.String(required=True)
    email = fields.Email(required=True)
    full_name = fields.String(required=True)


class PeopleQuerySchema(PageQuerySchema):
    """`?q=&business_unit=&verified=&limit=&cursor=` of an organization's people (GET /v1/orgs/{org_id}/people)."""
    q = text_field(200, load_default=None, allow_none=True,
                   metadata={"description": "part of the email address or of the name (the organization's or the "
                                            "account's), any case"})
    business_unit = text_field(200, load_default=None, allow_none=True,
                               metadata={"description": "the profile's business_unit, exactly"})
    verified = fields.Boolean(load_default=None, allow_none=True,
                              metadata={"description": "true: accounts whose address is verified; false: not yet"})


class PersonListItemSchema(PersonSchema):
    """A person of the organization as the people list shows them (PersonSchema and two facts of the account)."""
    email_verified = fields.Boolean(required=True, metadata={"description": "the account's address is verified"})
    joined_at = fields.AwareDateTime(required=True,
                                     metadata={"description": "when the person got a profile in the organization"})


class RoleSchema(Schema):
    role = fields.String(required=True, validate=validate.OneOf(ADMIN_ROLES))
    org_id = fields.String(required=True)
    program_ids = fields.List(fields.String(), load_default=list)


class AdminSchema(Schema):
    id = fields.String(required=True)  # the admin role assignment id
    user_id = fields.String(required=True)
    email = fields.Email(required=True)
    full_name = fields.String(required=True)
    role = fields.String(required=True)
    program_ids = fields.List(fields.String())
    created_at = fields.AwareDateTime()


class UserSchema(Schema):
    id = fields.String(required=True)
    email = fields.Email(required=True)
    full_name = fields.String(required=True)
    email_verified = fields.Boolean()
    roles = fields.List(fields.Nested(RoleSchema))


class ApiTokenSchema(Schema):
    """An API token as listed: never its secret."""
    id = fields.String(required=True)
    name = fields.String(required=True)
    scopes = fields.List(fields.String(), required=True)
    created_by = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    revoked_at = fields.AwareDateTime(allow_none=True)


class TokensSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    token_type = fields.String(dump_default="Bearer")


# ---- events -------------------------------------------------------------


class OrgCreated(Schema):
    org_id = fields.String(required=True)
    name = fields.String(required=True)
    brand_color = fields.String(allow_none=True)
    logo_url = fields.String(allow_none=True)
    timezone = fields.String(allow_none=True)
    settings = fields.Nested(OrgSettingsSchema, metadata={"description": "every setting at creation (skills)"})


ORG_CREATED = Event("identity.org.created.v1", OrgCreated)


class OrgUpdated(Schema):
    """The organization after the change, and which fields changed."""

    org_id = fields.String(required=True)
    changed = fields.List(fields.String(), required=True)
    settings = fields.Nested(OrgSettingsSchema, required=True)
    previous = fields.Dict(allow_none=True, load_default=None,
                           metadata={"description": "the changed fields' values before the change (audit log)"})


ORG_UPDATED = Event("identity.org.updated.v1", OrgUpdated)


class RegisteredUser(Schema):
    """Who an account is: what every event about one account carries."""
    user_id = fields.String(required=True)
    email = fields.Email(required=True)
    full_name = fields.String(required=True)


class UserRegistered(RegisteredUser):
    via = fields.String(required=True, validate=validate.OneOf(values(RegisteredVia)))


USER_REGISTERED = Event("identity.user.registered.v1", UserRegistered, public=True)


class UsersRegistered(Schema):
    """Many accounts created at once (a CSV import): each as identity.user.registered.v1 tells one."""
    via = fields.String(required=True, validate=validate.OneOf([RegisteredVia.INVITATION.value]))
    users = fields.List(fields.Nested(RegisteredUser), required=True)


USERS_REGISTERED = Event("identity.users.registered.v1", UsersRegistered, batch_of="users", public=True)


class VerificationRequested(RegisteredUser):
    """Carries what the verification email needs, including the link."""

    # False: the name is a signer-up's own words for an address not yet proven; emails do not show it
    name_trusted = fields.Boolean(load_default=False)
    verify_url = fields.String(required=True)
    expires_at = fields.AwareDateTime(required=True)


USER_VERIFICATION_REQUESTED = Event("identity.user.verification_requested.v1", VerificationRequested)


class EmailVerified(Schema):
    user_id = fields.String(required=True)
    email = fields.Email(required=True)


USER_EMAIL_VERIFIED = Event("identity.user.email_verified.v1", EmailVerified, public=True)


class PasswordResetRequested(RegisteredUser):
    """A reset link, or the first-password link of a newly added admin."""

    name_trusted = fields.Boolean(load_default=False)  # as in VerificationRequested (an admin's name counts)
    reset_url = fields.String(required=True)
    expires_at = fields.AwareDateTime(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(values(PasswordResetReason)))
    org_id = fields.String(allow_none=True)


USER_PASSWORD_RESET_REQUESTED = Event("identity.user.password_reset_requested.v1", PasswordResetRequested)


class ProfileUpdated(PersonSchema):
    """The person's organization profile after the change."""
    previous = fields.Dict(allow_none=True, load_default=None,
                           metadata={"description": "the profile before the change (audit log)"})


PROFILE_UPDATED = Event("identity.profile.updated.v1", ProfileUpdated)


class ProfilesUpdated(Schema):
    """Many profiles of one organization created or filled in at once (a CSV
    import): each person as identity.profile.updated.v1 carries one."""
    org_id = fields.String(required=True)
    people = fields.List(fields.Nested(PersonSchema), required=True)


PROFILES_UPDATED = Event("identity.profiles.updated.v1", ProfilesUpdated, batch_of="people", public=True)


class AdminGranted(RegisteredUser):
    admin_id = fields.String(required=True)
    org_id = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ADMIN_ROLES))
    program_ids = fields.List(fields.String(), required=True)


ADMIN_GRANTED = Event("identity.admin.granted.v1", AdminGranted)


class AdminRevoked(Schema):
    admin_id = fields.String(required=True)
    org_id = fields.String(required=True)
    user_id = fields.String(required=True)
    role = fields.String(required=True)


ADMIN_REVOKED = Event("identity.admin.revoked.v1", AdminRevoked, public=True)


# ---- security events (the audit log, docs/audit.md) ----------------------------


class SignInMethod(StrEnum):
    PASSWORD = "PASSWORD"
    OIDC = "OIDC"  # single sign-on through an OpenID Connect provider (docs/sso.md)
    SAML = "SAML"  # single sign-on through a SAML 2.0 identity provider


class SignInSucceeded(Schema):
    """A person signed in; `org_ids`: the organizations they belong to (each audit log shows it)."""
    user_id = fields.String(required=True)
    email = fields.Email(required=True)
    method = fields.String(required=True, validate=validate.OneOf(values(SignInMethod)))
    org_ids = fields.List(fields.String(), required=True)


SIGN_IN_SUCCEEDED = Event("identity.sign_in.succeeded.v1", SignInSucceeded)


class SignInFailed(Schema):
    """A refused sign-in: a wrong password, too many attempts, ...; `user_id`
    and `org_ids` when the address is an account's (else none: the platform's log)."""
    email = fields.String(required=True)
    user_id = fields.String(allow_none=True)
    method = fields.String(required=True, validate=validate.OneOf(values(SignInMethod)))
    reason = fields.String(required=True, metadata={"description": "the refusal's error code"})
    org_ids = fields.List(fields.String(), required=True)


SIGN_IN_FAILED = Event("identity.sign_in.failed.v1", SignInFailed)


class ApiTokenEvent(Schema):
    token_id = fields.String(required=True)
    org_id = fields.String(required=True)
    name = fields.String(required=True)
    scopes = fields.List(fields.String(), required=True)
    created_by = fields.String(allow_none=True)


API_TOKEN_CREATED = Event("identity.api_token.created.v1", ApiTokenEvent)
API_TOKEN_REVOKED = Event("identity.api_token.revoked.v1", ApiTokenEvent)


# ---- SCIM provisioning (docs/scim.md; contracts/scim.py has the protocol's names) ----------


class UserChange(StrEnum):
    PROVISIONED = "PROVISIONED"  # created, or an existing account of the organization linked
    UPDATED = "UPDATED"
    DEPROVISIONED = "DEPROVISIONED"  # active: false
    REACTIVATED = "REACTIVATED"  # active: true again
    DELETED = "DELETED"  # DELETE /Users/{id}: deprovisioned and no longer a SCIM resource


class GroupChange(StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"


class MappingChange(StrEnum):
    SET = "SET"
    REMOVED = "REMOVED"


class ScimUserChanged(Schema):
    org_id = fields.String(required=True)
    user_id = fields.String(required=True)
    email = fields.Email(required=True)
    user_name = fields.String(required=True)
    change = fields.String(required=True, validate=validate.OneOf(values(UserChange)))
    active = fields.Boolean(required=True)
    changed = fields.List(fields.String(), load_default=list,
                          metadata={"description": "the SCIM-side fields that changed (userName, active, name)"})


SCIM_USER_CHANGED = Event("identity.scim.user_changed.v1", ScimUserChanged)


class ScimGroupChanged(Schema):
    org_id = fields.String(required=True)
    group_id = fields.String(required=True)
    display_name = fields.String(required=True)
    change = fields.String(required=True, validate=validate.OneOf(values(GroupChange)))
    added = fields.List(fields.String(), load_default=list, metadata={"description": "user ids that joined"})
    removed = fields.List(fields.String(), load_default=list, metadata={"description": "user ids that left"})


SCIM_GROUP_CHANGED = Event("identity.scim.group_changed.v1", ScimGroupChanged)


class ScimGroupMappingChanged(Schema):
    org_id = fields.String(required=True)
    mapping_id = fields.String(required=True)
    display_name = fields.String(required=True)
    program_id = fields.String(required=True)
    contract_id = fields.String(required=True)
    change = fields.String(required=True, validate=validate.OneOf(values(MappingChange)))
    created_by = fields.String(allow_none=True)


SCIM_GROUP_MAPPING_CHANGED = Event("identity.scim.group_mapping_changed.v1", ScimGroupMappingChanged)


class ScimEntitlement(Schema):
    """A program the person's groups map to, and the contract its join is charged to."""
    program_id = Id(required=True)
    contract_id = Id(required=True)


class ScimEntitlementsChanged(Schema):
    """The whole of what SCIM entitles one person to in one organization, after a change of it (docs/scim.md,
    "How the effects flow"): full state, never a delta, so a consumer converges from any one event. `version`
    grows by one per (org, person) with every event, in the order identity committed them: a consumer applies
    an event only if its version is above the last it applied (a redelivered or older one changes nothing)."""
    org_id = Id(required=True)
    user_id = Id(required=True)
    version = StrictInteger(required=True, validate=validate.Range(min=1))
    active = fields.Boolean(required=True, metadata={"description": "false: deprovisioned (or deleted): the person "
                                                                   "leaves every program of the organization"})
    email = fields.String(required=True, validate=validate.Length(min=3, max=320))
    full_name = fields.String(allow_none=True, validate=validate.Length(max=400))
    verified = fields.Boolean(required=True, metadata={"description": "a verified account joins; an unverified one "
                                                                     "is invited (docs/scim.md, \"Trust\")"})
    notify_exit = fields.Boolean(load_default=True, metadata={"description": "the organization's "
                                                                            "deprovision_exit_email"})
    programs = fields.List(fields.Nested(ScimEntitlement), required=True,
                           validate=validate.Length(max=10_000),
                           metadata={"description": "the programs the person's groups map to (empty when inactive)"})


SCIM_ENTITLEMENTS_CHANGED = Event("identity.scim.entitlements_changed.v1", ScimEntitlementsChanged)
# ---- single sign-on (its schemas: contracts/sso.py) ------------------------------
from contracts.sso import SSO_CONFIG_CHANGED  # noqa: E402,F401
