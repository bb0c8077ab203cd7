"""What a sign-in through a connection does to accounts (docs/sso.md, "Linking").

The provider vouches for an address; the platform believes it only where the
connection's organization has a say over that address:

- the address is in a domain the organization verified (one organization per
  domain): it links to the existing account, or a new account is created just
  in time, verified;
- otherwise it links only to an existing, verified account that belongs to
  this organization alone (an admin role or a profile in it, in no other);
- anything else is refused (SSO_NOT_LINKABLE): one organization's identity
  provider can never sign in as another organization's person or admin.

The mapped attributes (contracts.sso.MAPPABLE_FIELDS) then update the person's
profile in the organization at every sign-in."""
from sqlalchemy import select

from contracts.common import normalize_email
from contracts.fields import character_problem
from contracts.identity import SIGN_IN_SUCCEEDED, ProfileFieldsSchema, RegisteredVia
from contracts.sso import DEFAULT_OIDC_MAPPING, DEFAULT_SAML_MAPPING, SsoKind
from servicekit.db import UnitOfWork
from services.identity.commands import accounts, profiles
from services.identity.commands.sessions import orgs_of
from services.identity.models import Profile
from services.identity.queries import find_user
from services.identity.sso.errors import not_linkable, refused
from services.identity.sso.models import SsoConnection, SsoDomain

MAX_VALUE = 200


def mapping_of(connection: SsoConnection) -> dict:
    default = DEFAULT_OIDC_MAPPING if connection.kind == SsoKind.OIDC else DEFAULT_SAML_MAPPING
    return {**default, **(connection.attribute_mapping or {})}


def _clean(value) -> str | None:
    """One attribute value as profile text: the first of a list, trimmed, one line, at most 200 characters."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None or isinstance(value, dict):
        return None
    text = " ".join(str(value).split())[:MAX_VALUE]
    if not text or character_problem(text):
        return None
    return text


def mapped(connection: SsoConnection, attributes: dict) -> dict:
    """{profile field: value} from the provider's claims or attributes."""
    found = {}
    for field, attribute in mapping_of(connection).items():
        value = _clean(attributes.get(attribute))
        if value is not None:
            found[field] = value
    return found


def domain_of(email: str) -> str:
    return email.rsplit("@", 1)[-1]


def verified_domain(uow: UnitOfWork, org_id: str, email: str) -> bool:
    found = uow.session.scalar(select(SsoDomain.id).where(
        SsoDomain.org_id == org_id, SsoDomain.domain == domain_of(email), SsoDomain.verified_at.is_not(None)))
    return found is not None


def _valid_email(raw: str | None) -> str | None:
    if not raw or len(raw) > 254 or character_problem(raw):
        return None
    email = normalize_email(raw)
    local, _, domain = email.rpartition("@")
    if not local or "." not in domain or " " in email:
        return None
    return email


def sign_in_through(uow: UnitOfWork, connection: SsoConnection, attributes: dict, method: str) -> dict:
    """The account the provider's answer signs in (linked or created), its
    profile in the organization updated; announces the sign-in. Answers
    {user, email, created}."""
    values = mapped(connection, attributes)
    email = _valid_email(values.pop("email", None))
    if email is None:
        raise refused("EMAIL_MISSING", "the identity provider sent no usable email address")
    org_id = connection.org_id
    in_verified_domain = verified_domain(uow, org_id, email)
    user = find_user(uow, email)
    created = False
    if user is None:
        if not in_verified_domain:
            raise not_linkable("DOMAIN_NOT_VERIFIED", f"{email} is not in a domain your organization verified, and "
                                                      "has no account here: ask your administrator to invite you "
                                                      "or to verify the domain")
        user = accounts.create_user(uow, email, values.get("full_name") or email.split("@")[0], via=RegisteredVia.SSO)
        created = True
    elif not in_verified_domain:
        if orgs_of(uow.session, user.id) != [str(org_id)]:
            raise not_linkable("ACCOUNT_OF_ANOTHER_ORGANIZATION",
                               f"the account {email} is not this organization's alone and its domain is not verified "
                               "by this organization: sign in with your password instead")
        if not user.email_verified:
            raise not_linkable("ACCOUNT_NOT_VERIFIED", f"the account {email} has not confirmed its address yet: use "
                                                       "the link we emailed, then sign in again")
    if in_verified_domain and not user.email_verified:
        user.distrust_unverified_password()  # chosen by whoever signed up before the address was proven
        accounts.mark_verified(uow, user)
    person = update_profile(uow, org_id, user, values)
    uow.publish(SIGN_IN_SUCCEEDED, {"user_id": user.id, "email": user.email, "method": method,
                                    "org_ids": orgs_of(uow.session, user.id)})
    return {"user": user, "email": user.email, "created": created, "person": person}


PROFILE_FIELDS = tuple(ProfileFieldsSchema().fields)


def update_profile(uow: UnitOfWork, org_id: str, user, values: dict) -> dict:
    """The person's profile in the organization, created if missing, the
    mapped fields set (an event only when something changed)."""
    fields = {k: v for k, v in values.items() if k in PROFILE_FIELDS}
    if "manager_email" in fields and _valid_email(fields["manager_email"]) is None:
        fields.pop("manager_email")
    profile = uow.session.get(Profile, (org_id, user.id))
    if profile is None:
        return profiles.ensure_person(uow, org_id, user.email, values.get("full_name") or user.full_name, fields,
                                      via=RegisteredVia.SSO)
    changes = {k: v for k, v in fields.items() if getattr(profile, k) != v}
    if values.get("full_name") and values["full_name"] != (profile.full_name or user.full_name):
        changes["full_name"] = values["full_name"]
    if not changes:
        return {}
    return profiles.update_person(uow, org_id, user.id, changes)
