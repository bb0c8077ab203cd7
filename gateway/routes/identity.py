"""Auth and identity endpoints (docs/api.md: "Auth and identity")."""
from marshmallow import Schema, fields, validate

from contracts.common import ADMIN_ROLES, email_field, name_field
from contracts.errors import AppError, ErrorCode
from contracts.fields import Id, Token
from contracts.identity import (
    API_TOKEN_SCOPES,
    AdminSchema,
    ApiTokenSchema,
    OrganizationSchema,
    OrgSettingsSchema,
    PeopleQuerySchema,
    PersonListItemSchema,
    PersonSchema,
    ProfileFieldsSchema,
    TokensSchema,
    UserSchema,
)
from gateway.auth import API_TOKEN_CACHE_SECONDS, api_token_cache
from gateway.http import PUBLIC, Reply, route
from gateway.routes import Routes, require_changes
from gateway.schemas import page_of


def new_password(**kwargs):
    return Token(min_length=10, max_length=200, **kwargs)


def emailed_token(**kwargs):
    return Token(min_length=10, max_length=500, **kwargs)


class LoginBody(Schema):
    # Any text: a malformed address is a failed login like any unknown one.
    email = email_field(required=True)
    password = Token(required=True, max_length=200)


class RefreshBody(Schema):
    refresh_token = emailed_token(required=True)


class LogoutBody(RefreshBody):
    everywhere = fields.Boolean(load_default=False, metadata={
        "description": "sign out every session of this account: its refresh tokens and live access tokens"})


class SignupBody(Schema):
    email = email_field(required=True)
    full_name = name_field(required=True)
    password = new_password(required=True)


class TokenBody(Schema):
    token = emailed_token(required=True)


class ResetBody(Schema):
    email = email_field(required=True)


class ResendBody(ResetBody):
    """The address to send a new verification link to."""


class ResetConfirmBody(Schema):
    token = emailed_token(required=True)
    password = new_password(required=True)


class AddAdminBody(Schema):
    email = email_field(required=True)
    full_name = name_field(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ADMIN_ROLES))
    program_ids = fields.List(Id(), load_default=list, validate=validate.Length(max=500))


class ApiTokenBody(Schema):
    name = name_field(required=True)
    scopes = fields.List(fields.String(validate=validate.OneOf(API_TOKEN_SCOPES)), required=True,
                         validate=validate.Length(min=1, max=len(API_TOKEN_SCOPES)))


class ApiTokenCreated(Schema):
    id = fields.String()
    name = fields.String()
    scopes = fields.List(fields.String())
    token = fields.String(metadata={"description": "shown once; store it now"})


class PersonPatch(ProfileFieldsSchema):
    full_name = name_field()


class Accepted(Schema):
    status = fields.String()
    message = fields.String()


class IdentityRoutes(Routes):
    @route("POST", "/v1/auth/login", auth=PUBLIC, body=LoginBody, response=TokensSchema, tags=("auth",),
           summary="Sign in with email and password (403 EMAIL_NOT_VERIFIED: verify the address first)",
           errors=("INVALID_CREDENTIALS", "EMAIL_NOT_VERIFIED", "TOO_MANY_REQUESTS"))
    def login(self, call):
        # identity throttles per client too: the connecting address, or X-Forwarded-For from trusted proxies
        return self.identity.login(call.body["email"], call.body["password"], client=call.client)

    @route("POST", "/v1/auth/refresh", auth=PUBLIC, body=RefreshBody, response=TokensSchema, tags=("auth",),
           summary="Exchange a refresh token for new tokens (the old one is revoked)",
           errors=("TOKEN_INVALID", "EMAIL_NOT_VERIFIED"))
    def refresh(self, call):
        return self.identity.refresh(call.body["refresh_token"])

    @route("POST", "/v1/auth/logout", auth=PUBLIC, body=LogoutBody, status=204, tags=("auth",),
           summary="Revoke a refresh token (everywhere: every session of the account, access tokens included)")
    def logout(self, call):
        self.identity.logout(call.body["refresh_token"], everywhere=call.body["everywhere"])
        return Reply(status=204)

    @route("POST", "/v1/auth/signup", auth=PUBLIC, body=SignupBody, response=UserSchema, status=201,
           tags=("auth",), summary="Create a learner account; a verification email is sent",
           errors=("EMAIL_TAKEN", "TOO_MANY_REQUESTS"))
    def signup(self, call):
        return self.identity.signup(call.body["email"], call.body["full_name"], call.body["password"],
                                    client=call.client)

    @route("POST", "/v1/auth/verify-email", auth=PUBLIC, body=TokenBody, response=Accepted, tags=("auth",),
           summary="Confirm an email address with the emailed token", errors=("TOKEN_INVALID", "TOKEN_EXPIRED"))
    def verify_email(self, call):
        self.identity.verify_email(call.body["token"])
        return {"status": "verified", "message": "your email address is verified"}

    @route("POST", "/v1/auth/verify-email/resend", auth=PUBLIC, body=ResendBody, response=Accepted, status=202,
           tags=("auth",), errors=("TOO_MANY_REQUESTS",),
           summary="Email a new verification link (same answer whether or not the account exists or is verified)")
    def resend_verification(self, call):
        self.identity.resend_verification(call.body["email"], client=call.client)
        return {"status": "accepted",
                "message": "if an account with this email awaits verification, a new link is on its way"}

    @route("POST", "/v1/auth/password-reset", auth=PUBLIC, body=ResetBody, response=Accepted, status=202,
           tags=("auth",), summary="Email a password reset link (same answer whether or not the account exists)",
           errors=("TOO_MANY_REQUESTS",))
    def password_reset(self, call):
        self.identity.request_password_reset(call.body["email"], client=call.client)
        return {"status": "accepted", "message": "if an account exists for this email, a reset link is on its way"}

    @route("POST", "/v1/auth/password-reset/confirm", auth=PUBLIC, body=ResetConfirmBody, response=Accepted,
           tags=("auth",), summary="Set a new (or first) password with the emailed token",
           errors=("TOKEN_INVALID", "TOKEN_EXPIRED", "TOO_MANY_REQUESTS"))
    def password_reset_confirm(self, call):
        self.identity.confirm_password_reset(call.body["token"], call.body["password"])
        return {"status": "ok", "message": "password set; sign in with it"}

    @route("GET", "/v1/me", response=UserSchema, tags=("me",), summary="The signed-in person and their roles")
    def me(self, call):
        return self.identity.get_user(call.principal.user_id)

    # ---- organization settings
    @route("GET", "/v1/orgs/{org_id}", scope="org:read", response=OrganizationSchema, tags=("orgs",),
           summary="Organization settings (org admins and program admins)")
    def get_org(self, call, org_id):
        call.principal.require_admin(org_id)
        return self.identity.get_organization(org_id)

    @route("PATCH", "/v1/orgs/{org_id}", body=OrgSettingsSchema, response=OrganizationSchema, tags=("orgs",),
           summary="Change organization settings (org admins)")
    def update_org(self, call, org_id):
        call.principal.require_org_admin(org_id)
        require_changes(call.body)
        return self.identity.update_organization(org_id, OrgSettingsSchema().dump(call.body))

    # ---- admins
    @route("GET", "/v1/orgs/{org_id}/admins", scope="people:read", response=AdminSchema, many=True, tags=("admins",),
           summary="The organization's admins")
    def list_admins(self, call, org_id):
        call.principal.require_org_admin(org_id)
        return self.identity.list_admins(org_id)

    @route("POST", "/v1/orgs/{org_id}/admins", body=AddAdminBody, response=AdminSchema, status=201,
           tags=("admins",), errors=("ALREADY_ADMIN",),
           summary="Add an admin by email (the account is created if needed and gets a first-password email)")
    def add_admin(self, call, org_id):
        call.principal.require_org_admin(org_id)
        body = call.body
        self.scope.programs_of_org(org_id, body["program_ids"])
        return self.identity.add_admin(org_id, body["email"], body["full_name"], body["role"], body["program_ids"])

    @route("DELETE", "/v1/orgs/{org_id}/admins/{admin_id}", status=204, tags=("admins",),
           summary="Remove an admin role")
    def remove_admin(self, call, org_id, admin_id):
        call.principal.require_org_admin(org_id)
        self.identity.remove_admin(org_id, admin_id, call.principal.user_id)
        return Reply(status=204)

    # ---- API tokens
    @route("POST", "/v1/orgs/{org_id}/api-tokens", body=ApiTokenBody, response=ApiTokenCreated, status=201,
           tags=("admins",), summary="Create an API token for a machine client (shown once)")
    def create_api_token(self, call, org_id):
        call.principal.require_org_admin(org_id)
        return self.identity.create_api_token(org_id, call.body["name"], call.body["scopes"],
                                              call.principal.user_id)

    @route("GET", "/v1/orgs/{org_id}/api-tokens", response=ApiTokenSchema, many=True, tags=("admins",),
           summary="The organization's API tokens (names, scopes, dates; never the secret)")
    def list_api_tokens(self, call, org_id):
        call.principal.require_org_admin(org_id)
        return self.identity.list_api_tokens(org_id)

    @route("DELETE", "/v1/orgs/{org_id}/api-tokens/{token_id}", status=204, tags=("admins",),
           summary="Revoke an API token (refused at once by this gateway, within "
                   f"{int(API_TOKEN_CACHE_SECONDS)} s by every other replica)")
    def revoke_api_token(self, call, org_id, token_id):
        call.principal.require_org_admin(org_id)
        revoked = self.identity.revoke_api_token(org_id, token_id)
        api_token_cache.forget(lambda info: info["id"] == revoked["id"])
        return Reply(status=204)

    # ---- people
    @route("GET", "/v1/orgs/{org_id}/people", scope="people:read", query=PeopleQuerySchema,
           response=page_of(PersonListItemSchema, "PersonListPage"), tags=("people",),
           summary="The organization's people, newest first: everyone with a profile in it, in a program or not "
                   "(org admins; search and filters)")
    def list_people(self, call, org_id):
        """Org admins only (and API tokens of scope people:read): a program admin or a person of the
        organization gets 403, anyone else 404. A program admin finds their programs' people in the members
        lists; a directory of the whole organization is the organization's matter."""
        principal = call.principal
        if not principal.is_org_admin(org_id):
            if principal.is_admin(org_id) or self._person_of(org_id, principal):
                raise AppError(ErrorCode.FORBIDDEN, "the organization's people are for organization admins")
            raise AppError(ErrorCode.NOT_FOUND, "organization not found")
        return self.identity.list_people(org_id, dict(call.query))

    def _person_of(self, org_id: str, principal) -> bool:
        if principal.is_machine or not principal.user_id:
            return False
        try:
            self.identity.get_person(org_id, principal.user_id)
        except AppError as exc:
            if exc.code == ErrorCode.NOT_FOUND:
                return False
            raise
        return True

    @route("GET", "/v1/orgs/{org_id}/people/{user_id}", scope="people:read", response=PersonSchema, tags=("people",),
           summary="A person's organization profile")
    def get_person(self, call, org_id, user_id):
        self.scope.person(call.principal, org_id, user_id)
        return self.identity.get_person(org_id, user_id)

    @route("PATCH", "/v1/orgs/{org_id}/people/{user_id}", body=PersonPatch, response=PersonSchema,
           tags=("people",), summary="Change a person's organization profile")
    def update_person(self, call, org_id, user_id):
        self.scope.person(call.principal, org_id, user_id)
        return self.identity.update_person(org_id, user_id, PersonPatch().dump(call.body))
