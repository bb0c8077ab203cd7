"""identity's reads: lookups and the view dicts the RPCs answer with."""
import uuid
from datetime import datetime

from sqlalchemy import func, or_, select, text, tuple_, union_all
from sqlalchemy.orm import aliased

from contracts.errors import AppError, ErrorCode, not_found
from contracts.identity import ProfileFieldsSchema
from servicekit.db import UnitOfWork
from servicekit.models import normalize_email, parse_uuid, require_uuid
from servicekit.pagination import check_limit, contains, decode_cursor, encode_cursor
from services.identity import credentials
from services.identity.models import (
    AdminRole,
    ApiToken,
    Organization,
    Profile,
    User,
)

PROFILE_FIELDS = tuple(ProfileFieldsSchema().fields)


# ---------------------------------------------------------------- organizations


def get_org(uow: UnitOfWork, org_id: str) -> Organization:
    org = uow.session.get(Organization, require_uuid(org_id, "organization"))
    if org is None:
        raise not_found("organization")
    return org


# ---------------------------------------------------------------- accounts


def find_user(uow: UnitOfWork, email: str) -> User | None:
    return uow.session.scalar(select(User).where(User.email == normalize_email(email)))


def get_user(uow: UnitOfWork, user_id: str) -> User:
    user = uow.session.get(User, require_uuid(user_id, "user"))
    if user is None:
        raise not_found("user")
    return user


def roles_of(uow: UnitOfWork, user_id: str) -> list[dict]:
    rows = uow.session.scalars(select(AdminRole).where(AdminRole.user_id == user_id).order_by(AdminRole.created_at))
    return [{"role": r.role, "org_id": r.org_id, "program_ids": list(r.program_ids or [])} for r in rows]


def user_view(uow: UnitOfWork, user: User) -> dict:
    return {"id": user.id, "email": user.email, "full_name": user.full_name,
            "email_verified": user.email_verified, "roles": roles_of(uow, user.id)}


USER_VIEW = text(
    "SELECT u.id::text AS id, u.email, u.full_name, u.email_verified_at IS NOT NULL AS email_verified, "
    "coalesce(json_agg(json_build_object('role', r.role, 'org_id', r.org_id::text, "
    "'program_ids', coalesce(r.program_ids, '{}')) ORDER BY r.created_at) "
    "FILTER (WHERE r.id IS NOT NULL), '[]') AS roles "
    "FROM users u LEFT JOIN admin_roles r ON r.user_id = u.id WHERE u.id = CAST(:id AS uuid) GROUP BY u.id"
)


def user_view_by_id(uow: UnitOfWork, user_id: str) -> dict:
    """The account and its roles in one query (GET /v1/me is the hottest path)."""
    row = uow.read(USER_VIEW, {"id": require_uuid(user_id, "user")}).mappings().first()
    if row is None:
        raise not_found("user")
    return dict(row)


# ---------------------------------------------------------------- people


def person_view(user: User, profile: Profile) -> dict:
    """A person as one organization sees them: its profile, and its own name
    for them if it gave one (else the account's)."""
    view = {"user_id": user.id, "org_id": profile.org_id, "email": user.email,
            "full_name": profile.full_name or user.full_name}
    view.update({name: getattr(profile, name) for name in PROFILE_FIELDS})
    return view


def get_person(uow: UnitOfWork, org_id: str, user_id: str) -> tuple[User, Profile]:
    if parse_uuid(org_id) is None or parse_uuid(user_id) is None:
        raise not_found("person")
    profile = uow.session.get(Profile, (org_id, user_id))
    if profile is None:
        raise not_found("person")
    return get_user(uow, user_id), profile


def person(uow: UnitOfWork, org_id: str, user_id: str) -> dict:
    return person_view(*get_person(uow, org_id, user_id))


# The people list is newest first, keyset-paginated on the index profiles_org_joined (org_id, created_at,
# user_id). A search compares lower-cased texts (email, the account's name, the organization's name for the
# person) in up to three steps (docs/identity.md, "People list"):
# 1. the next SEARCH_WALK people in order, searched: a frequent text fills its page there (milliseconds);
# 2. else, when the trigram indexes find fewer than SEARCH_SPARSE people with the text (anywhere), the page is
#    made from those (a rare text: index lookups, not a walk through the whole organization);
# 3. else the organization's people are walked in order until the page is full.
SEARCH_WALK = 2000
SEARCH_SPARSE = 5000


def list_people(uow: UnitOfWork, org_id: str, q: str | None = None, business_unit: str | None = None,
                verified: bool | None = None, limit: int = 50, cursor: str | None = None) -> dict:
    """The organization's people (everyone with a profile in it: members of programs or of none, admins,
    people provisioned by SCIM or signed in by SSO), newest first; never another organization's."""
    get_org(uow, org_id)
    limit = check_limit(limit)
    after = decode_cursor(cursor, (datetime, uuid.UUID))

    def in_order(query, person=Profile):
        if after is not None:
            query = query.where(tuple_(person.created_at, person.user_id) < tuple_(*after))
        return query.where(person.org_id == org_id).order_by(person.created_at.desc(), person.user_id.desc())

    def people(person=Profile, account=User, joined=True):
        query = select(person, account)
        if joined:
            query = query.join(account, account.id == person.user_id)
        if business_unit:
            query = query.where(person.business_unit == business_unit)
        if verified is not None:
            query = query.where(account.email_verified_at.is_not(None) if verified
                                else account.email_verified_at.is_(None))
        return in_order(query, person)

    def page(query) -> list:
        return uow.session.execute(query.limit(limit + 1)).all()

    if not (q and q.strip()):
        rows = page(people())
    else:
        pattern = contains(q)

        def with_text(person=Profile, account=User):
            return or_(account.email.like(pattern), func.lower(account.full_name).like(pattern),
                       func.lower(person.full_name).like(pattern))

        # the next SEARCH_WALK people as the first page is read (the index in order, each account by its key)
        window = in_order(select(Profile, User).join(User, User.id == Profile.user_id)).limit(SEARCH_WALK).subquery()
        walked, walked_account = aliased(Profile, window), aliased(User, window)
        rows = page(people(walked, walked_account, joined=False).where(with_text(walked, walked_account)))
        if len(rows) <= limit and uow.session.scalar(select(func.count()).select_from(window)) == SEARCH_WALK:
            matching = union_all(
                select(User.id.label("user_id")).where(or_(User.email.like(pattern),
                                                           func.lower(User.full_name).like(pattern))),
                select(Profile.user_id).where(Profile.org_id == org_id, func.lower(Profile.full_name).like(pattern))
            ).limit(SEARCH_SPARSE).subquery()
            found = uow.session.scalars(select(matching.c.user_id)).all()
            if len(found) < SEARCH_SPARSE:
                rows = page(people().where(Profile.user_id.in_(found))) if found else []
            else:
                rows = page(people().where(with_text()))
    more, rows = len(rows) > limit, rows[:limit]
    return {"items": [person_view(user, profile) | {"email_verified": user.email_verified,
                                                    "joined_at": profile.created_at} for profile, user in rows],
            "next_cursor": encode_cursor((rows[-1][0].created_at, rows[-1][0].user_id)) if more else None}


# ---------------------------------------------------------------- admins


def admin_view(role: AdminRole, user: User) -> dict:
    return {"id": role.id, "user_id": user.id, "email": user.email, "full_name": user.full_name, "role": role.role,
            "program_ids": list(role.program_ids or []), "created_at": role.created_at}


def list_admins(uow: UnitOfWork, org_id: str) -> list[dict]:
    get_org(uow, org_id)
    rows = uow.session.execute(
        select(AdminRole, User).join(User, User.id == AdminRole.user_id).where(AdminRole.org_id == org_id)
        .order_by(AdminRole.created_at)
    ).all()
    return [admin_view(role, user) for role, user in rows]


# ---------------------------------------------------------------- API tokens


def api_token_view(token: ApiToken) -> dict:
    return {"id": token.id, "name": token.name, "scopes": list(token.scopes), "created_by": token.created_by,
            "created_at": token.created_at, "revoked_at": token.revoked_at}


def list_api_tokens(uow: UnitOfWork, org_id: str) -> list[dict]:
    """The organization's API tokens (never their secrets), newest first."""
    get_org(uow, org_id)
    tokens = uow.session.scalars(select(ApiToken).where(ApiToken.org_id == org_id)
                                 .order_by(ApiToken.created_at.desc(), ApiToken.id))
    return [api_token_view(token) for token in tokens]


def authenticate_api_token(uow: UnitOfWork, raw: str) -> dict:
    token = uow.session.scalar(select(ApiToken).where(ApiToken.token_hash == credentials.digest(raw)))
    if token is None or token.revoked_at is not None:
        raise AppError(ErrorCode.TOKEN_INVALID, "the API token is not valid")
    return {"id": token.id, "org_id": token.org_id, "scopes": list(token.scopes)}


def token_version(uow: UnitOfWork, user_id: str) -> int | None:
    """The version the user's access tokens must carry; None for no such user."""
    user_id = parse_uuid(user_id)
    if user_id is None:
        return None
    return uow.session.scalar(select(User.token_version).where(User.id == user_id))
