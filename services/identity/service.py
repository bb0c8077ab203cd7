"""identity's nameko entrypoints: load input, call one command or query, dump output."""
from marshmallow import ValidationError

from contracts.errors import AppError, ErrorCode
from contracts.identity import (
    AdminSchema,
    ApiTokenSchema,
    NewOrgSchema,
    OrganizationSchema,
    OrgSettingsSchema,
    PeopleQuerySchema,
    PersonInputSchema,
    PersonListItemSchema,
    PersonSchema,
    ProfileFieldsSchema,
    TokensSchema,
    UserSchema,
)
from contracts.programs import MEMBER_JOINED
from contracts.scim import GroupMappingSchema
from contracts.sso import (
    NewSsoConnectionInput,
    SsoConnectionInput,
    SsoConnectionSchema,
    SsoDomainSchema,
    SsoOptionSchema,
    SsoPolicySchema,
)
from servicekit import signing
from servicekit.entrypoints import load_input, rpc
from servicekit.events import handled_by
from servicekit.service import ServiceBase, ServiceSettings
from services.identity import handlers, queries
from services.identity.commands import accounts, admins, api_tokens, organizations, profiles, scim, sessions
from services.identity.settings import IdentitySettings
from services.identity.sso import config as sso_config
from services.identity.sso import saml as _saml  # noqa: F401  (pysaml2 loaded at start, not at a first sign-in)
from services.identity.sso import signin as sso_signin


class IdentityService(ServiceBase):
    name = "identity"
    signs_access_tokens = True  # holds the private key (servicekit.signing; checked at start by servicekit.run)
    settings = ServiceSettings(IdentitySettings)  # checked when the container starts

    # ---- organizations
    @rpc
    def create_organization(self, settings):
        return OrganizationSchema().dump(organizations.create_org(self.db, NewOrgSchema().load(settings)))

    @rpc
    def get_organization(self, org_id):
        return OrganizationSchema().dump(queries.get_org(self.db, org_id))

    @rpc
    def update_organization(self, org_id, changes):
        return OrganizationSchema().dump(organizations.update_org(self.db, org_id, OrgSettingsSchema().load(changes)))

    # ---- accounts and sessions
    @rpc
    def signup(self, email, full_name, password, client=None):
        user = accounts.signup(self.db, email, full_name, password, client)
        return UserSchema().dump(queries.user_view(self.db, user))

    @rpc
    def verify_email(self, token):
        accounts.verify_email(self.db, token)

    @rpc
    def resend_verification(self, email, client=None):
        """`client`: the caller's address (limits per client, throttle.py)."""
        accounts.resend_verification(self.db, email, client)

    @rpc
    def request_password_reset(self, email, client=None):
        """`client`: the caller's address (limits per client, throttle.py)."""
        accounts.request_password_reset_link(self.db, email, client)

    @rpc
    def confirm_password_reset(self, token, password):
        accounts.confirm_password_reset(self.db, token, password)

    @rpc
    def login(self, email, password, client=None):
        return TokensSchema().dump(sessions.login(self.db, email, password, client))

    @rpc
    def refresh(self, refresh_token):
        return TokensSchema().dump(sessions.refresh(self.db, refresh_token))

    @rpc
    def jwks(self):
        """The public keys access tokens are verified with (a JWKS document: the
        signing key and JWT_PUBLISHED_PUBLIC_KEYS); the gateway fetches it."""
        return signing.signing_key().jwks()

    @rpc
    def logout(self, refresh_token, everywhere=False):
        sessions.logout(self.db, refresh_token, everywhere=bool(everywhere))

    @rpc(read_only=True)
    def token_version(self, user_id):
        """The version a user's access tokens must carry (None: no such user)."""
        return queries.token_version(self.db, user_id)

    @rpc(read_only=True)
    def get_user(self, user_id):
        return queries.user_view_by_id(self.db, user_id)

    @rpc
    def find_user(self, email):
        user = queries.find_user(self.db, email)
        return None if user is None else UserSchema().dump(queries.user_view(self.db, user))

    @rpc
    def account_for_invitation(self, email, full_name=None, password=None, signed_in_user_id=None, client=None):
        """Create or link the account of an invitee who accepted by the emailed link (an account with a
        password: for its owner, signed in or giving the password)."""
        user = accounts.account_for_invitation(self.db, email, full_name, password, signed_in_user_id, client)
        return UserSchema().dump(queries.user_view(self.db, user))

    @rpc
    def issue_tokens(self, user_id):
        return TokensSchema().dump(sessions.issue_tokens_for(self.db, user_id))

    # ---- people
    @rpc
    def ensure_person(self, org_id, person, only_fill_empty=False):
        """`only_fill_empty` (invitations): given profile fields fill empty ones, never replace a value."""
        data = PersonInputSchema().load(person)
        email, full_name = data.pop("email"), data.pop("full_name")
        return PersonSchema().dump(profiles.ensure_person(self.db, org_id, email, full_name, data,
                                                         only_fill_empty=bool(only_fill_empty)))

    @rpc
    def ensure_people(self, org_id, people, only_fill_empty=False):
        """ensure_person for many (bulk invitations), set-based, one transaction.
        Answers, in order, each person's view or {"error": {code, message,
        details}}: a refused person does not stop the others. `only_fill_empty`
        as for ensure_person."""
        schema = PersonInputSchema()
        answers: list = [None] * len(people)
        valid = []
        for index, person in enumerate(people):
            try:
                valid.append((index, schema.load(person)))
            except ValidationError as exc:
                answers[index] = {"error": AppError(ErrorCode.INVALID_INPUT, "invalid person", exc.messages).to_dict()}
        ensured = profiles.ensure_people(self.db, org_id, [data for _, data in valid],
                                         only_fill_empty=bool(only_fill_empty)) if valid else []
        for (index, _), answer in zip(valid, ensured, strict=True):
            answers[index] = {"error": answer.to_dict()} if isinstance(answer, AppError) else answer
        return answers

    @rpc
    def get_person(self, org_id, user_id):
        return PersonSchema().dump(queries.person(self.db, org_id, user_id))

    @rpc(read_only=True)
    def list_people(self, org_id, query=None):
        params = load_input(PeopleQuerySchema(), query or {})
        found = queries.list_people(self.db, org_id, params["q"], params["business_unit"], params["verified"],
                                    params["limit"], params["cursor"])
        return {"items": PersonListItemSchema(many=True).dump(found["items"]), "next_cursor": found["next_cursor"]}

    @rpc
    def update_person(self, org_id, user_id, changes):
        data = ProfileFieldsSchema().load({k: v for k, v in changes.items() if k != "full_name"})
        if changes.get("full_name"):
            data["full_name"] = changes["full_name"]
        return PersonSchema().dump(profiles.update_person(self.db, org_id, user_id, data))

    # ---- admins
    @rpc
    def list_admins(self, org_id):
        return AdminSchema(many=True).dump(queries.list_admins(self.db, org_id))

    @rpc
    def add_admin(self, org_id, email, full_name, role, program_ids=None):
        return AdminSchema().dump(admins.add_admin(self.db, org_id, email, full_name, role, program_ids or []))

    @rpc
    def remove_admin(self, org_id, admin_id, acting_user_id=None):
        admins.remove_admin(self.db, org_id, admin_id, acting_user_id)

    on_member_joined = handled_by(MEMBER_JOINED, handlers.on_member_joined, payload=True)

    # ---- API tokens
    @rpc
    def create_api_token(self, org_id, name, scopes, created_by=None):
        return api_tokens.create_api_token(self.db, org_id, name, scopes, created_by)

    @rpc(read_only=True)
    def list_api_tokens(self, org_id):
        return ApiTokenSchema(many=True).dump(queries.list_api_tokens(self.db, org_id))

    @rpc
    def revoke_api_token(self, org_id, token_id):
        return ApiTokenSchema().dump(api_tokens.revoke_api_token(self.db, org_id, token_id))

    @rpc
    def authenticate_api_token(self, token):
        return queries.authenticate_api_token(self.db, token)



    # ---- SCIM 2.0 (docs/scim.md): `org_id` is the calling API token's organization, set by the gateway.
    # Writes answer {resource}; their effects on programs and invitations are identity.scim.entitlements_changed.v1
    # events published in the same transaction (docs/scim.md, "How the effects flow").
    @rpc
    def scim_create_user(self, org_id, resource):
        return scim.create_user(self.db, org_id, resource)

    @rpc(read_only=True)
    def scim_get_user(self, org_id, user_id):
        return scim.get_user(self.db, org_id, user_id)

    @rpc(read_only=True)
    def scim_list_users(self, org_id, filter=None, start_index=1, count=100):  # noqa: A002 - SCIM's own word
        return scim.list_users(self.db, org_id, filter, int(start_index), int(count))

    @rpc
    def scim_replace_user(self, org_id, user_id, resource, if_match=None):
        return scim.replace_user(self.db, org_id, user_id, resource, if_match)

    @rpc
    def scim_patch_user(self, org_id, user_id, body, if_match=None):
        return scim.patch_user(self.db, org_id, user_id, body, if_match)

    @rpc
    def scim_delete_user(self, org_id, user_id):
        return scim.delete_user(self.db, org_id, user_id)

    @rpc
    def scim_create_group(self, org_id, resource):
        return scim.create_group(self.db, org_id, resource)

    @rpc(read_only=True)
    def scim_get_group(self, org_id, group_id, members=True):
        return scim.get_group(self.db, org_id, group_id, bool(members))

    @rpc(read_only=True)
    def scim_list_groups(self, org_id, filter=None, start_index=1, count=100, members=True):  # noqa: A002
        return scim.list_groups(self.db, org_id, filter, int(start_index), int(count), bool(members))

    @rpc
    def scim_replace_group(self, org_id, group_id, resource, if_match=None):
        return scim.replace_group(self.db, org_id, group_id, resource, if_match)

    @rpc
    def scim_patch_group(self, org_id, group_id, body, if_match=None):
        return scim.patch_group(self.db, org_id, group_id, body, if_match)

    @rpc
    def scim_delete_group(self, org_id, group_id):
        return scim.delete_group(self.db, org_id, group_id)

    @rpc(read_only=True)
    def list_scim_group_mappings(self, org_id):
        return GroupMappingSchema(many=True).dump(scim.list_group_mappings(self.db, org_id))

    @rpc
    def set_scim_group_mapping(self, org_id, display_name, program_id, contract_id, created_by=None):
        return GroupMappingSchema().dump(scim.set_group_mapping(self.db, org_id, display_name, program_id,
                                                                contract_id, created_by))

    @rpc
    def remove_scim_group_mapping(self, org_id, mapping_id):
        scim.remove_group_mapping(self.db, org_id, mapping_id)
    # ---- single sign-on (docs/sso.md)
    @rpc(read_only=True)
    def list_sso_connections(self, org_id):
        return SsoConnectionSchema(many=True).dump(
            [sso_config.connection_view(c) for c in sso_config.list_connections(self.db, org_id)])

    @rpc(read_only=True)
    def get_sso_connection(self, org_id, connection_id):
        return SsoConnectionSchema().dump(sso_config.connection_view(
            sso_config.get_connection(self.db, org_id, connection_id)))

    @rpc
    def create_sso_connection(self, org_id, data):
        connection = sso_config.create_connection(self.db, org_id, NewSsoConnectionInput().load(data))
        return SsoConnectionSchema().dump(sso_config.connection_view(connection))

    @rpc
    def update_sso_connection(self, org_id, connection_id, changes):
        connection = sso_config.update_connection(self.db, org_id, connection_id, SsoConnectionInput().load(changes))
        return SsoConnectionSchema().dump(sso_config.connection_view(connection))

    @rpc
    def delete_sso_connection(self, org_id, connection_id):
        sso_config.delete_connection(self.db, org_id, connection_id)

    @rpc(read_only=True)
    def list_sso_domains(self, org_id):
        return SsoDomainSchema(many=True).dump(
            [sso_config.domain_view(d) for d in sso_config.list_domains(self.db, org_id)])

    @rpc
    def add_sso_domain(self, org_id, domain):
        return SsoDomainSchema().dump(sso_config.domain_view(sso_config.add_domain(self.db, org_id, domain)))

    @rpc(read_only=True)
    def get_sso_domain(self, org_id, domain_id):
        return SsoDomainSchema().dump(sso_config.domain_view(sso_config.get_domain(self.db, org_id, domain_id)))

    @rpc
    def check_sso_domain(self, org_id, domain_id):
        """"Check now": the domain's TXT record looked up (green: a slow name server stalls this worker only)."""
        return SsoDomainSchema().dump(sso_config.domain_view(sso_config.check_domain(self.db, org_id, domain_id)))

    @rpc
    def delete_sso_domain(self, org_id, domain_id):
        sso_config.delete_domain(self.db, org_id, domain_id)

    @rpc(read_only=True)
    def get_sso_policy(self, org_id):
        return SsoPolicySchema().dump(sso_config.get_policy(self.db, org_id))

    @rpc
    def set_sso_policy(self, org_id, only_sso):
        return SsoPolicySchema().dump(sso_config.set_policy(self.db, org_id, bool(only_sso)))

    @rpc(read_only=True)
    def sso_options(self, email):
        return SsoOptionSchema(many=True).dump(sso_config.options_for(self.db, email))

    @rpc
    def begin_sso(self, connection_id, return_to=None, client=None):
        return sso_signin.begin(self.db, connection_id, return_to, client)

    @rpc
    def finish_oidc(self, state=None, code=None, error=None, client=None):
        return sso_signin.finish_oidc(self.db, state, code, error, client)

    @rpc
    def finish_saml(self, connection_id, relay_state=None, saml_response=None, client=None):
        return sso_signin.finish_saml(self.db, connection_id, relay_state, saml_response, client)

    @rpc(read_only=True)
    def saml_metadata(self, connection_id):
        return sso_signin.saml_metadata(self.db, connection_id)

    @rpc
    def redeem_sso_handoff(self, code):
        return TokensSchema().dump(sso_signin.redeem(self.db, code))
