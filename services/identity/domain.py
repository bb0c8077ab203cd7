"""identity's rules, as plain functions over a unit of work."""
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, text, update

from contracts.errors import AppError, ErrorCode, not_found
from contracts.identity import API_TOKEN_SCOPES as API_TOKEN_SCOPE_NAMES
from contracts.identity import OrgSettingsSchema, ProfileFieldsSchema
from servicekit import config
from servicekit.bulk import insert_rows
from services.identity import credentials
from services.identity.models import (
    AdminRole,
    ApiToken,
    LoginThrottle,
    OneTimeToken,
    Organization,
    Profile,
    RefreshToken,
    User,
    new_id,
)

MAX_FAILED_LOGINS = int(config.env("LOGIN_MAX_FAILURES", "5"))
THROTTLE_WINDOW = timedelta(minutes=15)
PROFILE_FIELDS = tuple(ProfileFieldsSchema().fields)
ORG_FIELDS = tuple(OrgSettingsSchema().fields)
API_TOKEN_SCOPES = tuple(API_TOKEN_SCOPE_NAMES)


def now() -> datetime:
    return datetime.now(UTC)


def normalize_email(email: str) -> str:
    return email.strip().lower()


# ---------------------------------------------------------------- organizations


def org_settings(org: Organization) -> dict:
    return {name: getattr(org, name) for name in ORG_FIELDS}


def get_org(uow, org_id: str) -> Organization:
    org = uow.session.get(Organization, org_id)
    if org is None:
        raise not_found("organization")
    return org


def create_org(uow, settings: dict) -> Organization:
    org = Organization(**settings)
    uow.session.add(org)
    uow.session.flush()
    uow.publish("identity.org.created.v1", {"org_id": org.id, "name": org.name, "brand_color": org.brand_color,
                                             "logo_url": org.logo_url, "timezone": org.timezone}, org_id=org.id)
    return org


def update_org(uow, org_id: str, changes: dict) -> Organization:
    org = get_org(uow, org_id)
    changed = [name for name, value in changes.items() if getattr(org, name) != value]
    for name in changed:
        setattr(org, name, changes[name])
    if changed:
        uow.session.flush()
        settings = OrgSettingsSchema().dump(org_settings(org))
        uow.publish("identity.org.updated.v1", {"org_id": org.id, "changed": sorted(changed), "settings": settings},
                    org_id=org.id)
    return org


# ---------------------------------------------------------------- accounts


def find_user(uow, email: str) -> User | None:
    return uow.session.scalar(select(User).where(User.email == normalize_email(email)))


def get_user(uow, user_id: str) -> User:
    user = uow.session.get(User, user_id)
    if user is None:
        raise not_found("user")
    return user


def create_user(uow, email: str, full_name: str, via: str, password: str | None = None) -> User:
    if find_user(uow, email) is not None:
        raise AppError(ErrorCode.EMAIL_TAKEN, "an account with this email exists")
    user = User(email=normalize_email(email), full_name=full_name.strip(),
                password_hash=credentials.hash_password(password) if password else None)
    uow.session.add(user)
    uow.session.flush()
    uow.publish("identity.user.registered.v1",
                {"user_id": user.id, "email": user.email, "full_name": user.full_name, "via": via})
    return user


def roles_of(uow, user_id: str) -> list[dict]:
    rows = uow.session.scalars(select(AdminRole).where(AdminRole.user_id == user_id).order_by(AdminRole.created_at))
    return [{"role": r.role, "org_id": r.org_id, "program_ids": list(r.program_ids or [])} for r in rows]


def user_view(uow, user: User) -> dict:
    return {"id": user.id, "email": user.email, "full_name": user.full_name,
            "email_verified": user.email_verified_at is not None, "roles": roles_of(uow, user.id)}


USER_VIEW = text(
    "SELECT u.id::text AS id, u.email, u.full_name, u.email_verified_at IS NOT NULL AS email_verified, "
    "coalesce(json_agg(json_build_object('role', r.role, 'org_id', r.org_id::text, "
    "'program_ids', coalesce(r.program_ids, '{}')) ORDER BY r.created_at) "
    "FILTER (WHERE r.id IS NOT NULL), '[]') AS roles "
    "FROM users u LEFT JOIN admin_roles r ON r.user_id = u.id WHERE u.id = CAST(:id AS uuid) GROUP BY u.id"
)


def user_view_by_id(uow, user_id: str) -> dict:
    """The account and its roles in one query (GET /v1/me is the hottest path)."""
    row = uow.read(USER_VIEW, {"id": user_id}).mappings().first()
    if row is None:
        raise not_found("user")
    return dict(row)


def signup(uow, email: str, full_name: str, password: str) -> User:
    user = create_user(uow, email, full_name, via="SIGNUP", password=password)
    request_verification(uow, user)
    return user


def _one_time_token(uow, user: User, purpose: str, ttl: timedelta) -> tuple[str, datetime]:
    raw = credentials.new_secret()
    expires_at = now() + ttl
    uow.session.add(OneTimeToken(user_id=user.id, purpose=purpose, token_hash=credentials.digest(raw),
                                 expires_at=expires_at))
    return raw, expires_at


def _use_one_time_token(uow, raw: str, purpose: str) -> User:
    token = uow.session.scalar(
        select(OneTimeToken).where(OneTimeToken.token_hash == credentials.digest(raw),
                                   OneTimeToken.purpose == purpose).with_for_update()
    )
    if token is None:
        raise AppError(ErrorCode.TOKEN_INVALID, "this link is not valid")
    if token.used_at is not None:
        raise AppError(ErrorCode.TOKEN_INVALID, "this link was already used")
    if token.expires_at <= now():
        raise AppError(ErrorCode.TOKEN_EXPIRED, "this link has expired; ask for a new one")
    token.used_at = now()
    return get_user(uow, token.user_id)


def request_verification(uow, user: User) -> None:
    raw, expires_at = _one_time_token(uow, user, "VERIFY_EMAIL", credentials.VERIFY_TOKEN_TTL)
    uow.publish("identity.user.verification_requested.v1", {
        "user_id": user.id, "email": user.email, "full_name": user.full_name,
        "verify_url": f"{config.public_url()}/verify-email?token={raw}", "expires_at": expires_at.isoformat(),
    })


def mark_verified(uow, user: User) -> None:
    if user.email_verified_at is None:
        user.email_verified_at = now()
        uow.publish("identity.user.email_verified.v1", {"user_id": user.id, "email": user.email})


def verify_email(uow, raw_token: str) -> User:
    user = _use_one_time_token(uow, raw_token, "VERIFY_EMAIL")
    mark_verified(uow, user)
    return user


def request_password_reset(uow, email: str, reason: str = "RESET", org_id: str | None = None) -> None:
    """Silently does nothing for unknown emails: the answer must not reveal accounts."""
    user = find_user(uow, email)
    if user is None:
        return
    ttl = credentials.FIRST_PASSWORD_TTL if reason == "FIRST_PASSWORD" else credentials.RESET_TOKEN_TTL
    raw, expires_at = _one_time_token(uow, user, "PASSWORD_RESET", ttl)
    uow.publish("identity.user.password_reset_requested.v1", {
        "user_id": user.id, "email": user.email, "full_name": user.full_name,
        "reset_url": f"{config.public_url()}/reset-password?token={raw}", "expires_at": expires_at.isoformat(),
        "reason": reason, "org_id": org_id,
    }, org_id=org_id)


def confirm_password_reset(uow, raw_token: str, password: str) -> User:
    user = _use_one_time_token(uow, raw_token, "PASSWORD_RESET")
    user.password_hash = credentials.hash_password(password)
    mark_verified(uow, user)  # the emailed link proves the address
    revoke_all_refresh_tokens(uow, user.id)
    return user


# ---------------------------------------------------------------- sessions


def check_throttle(uow, email: str) -> None:
    state = uow.session.get(LoginThrottle, email)
    if state is not None and state.locked_until is not None and state.locked_until > now():
        retry_after = int((state.locked_until - now()).total_seconds()) + 1
        raise AppError(ErrorCode.TOO_MANY_REQUESTS, "too many failed sign-ins; try again later",
                       {"retry_after_seconds": retry_after})


def record_failed_login(email: str, session) -> None:
    """Counted in its own transaction: a refused login commits nothing else."""
    failures = session.execute(
        text(
            "INSERT INTO login_throttle (email, failures, window_started_at) VALUES (:email, 1, now()) "
            "ON CONFLICT (email) DO UPDATE SET "
            "failures = CASE WHEN login_throttle.window_started_at < now() - :window "
            "  THEN 1 ELSE login_throttle.failures + 1 END, "
            "window_started_at = CASE WHEN login_throttle.window_started_at < now() - :window "
            "  THEN now() ELSE login_throttle.window_started_at END "
            "RETURNING failures"
        ),
        {"email": email, "window": THROTTLE_WINDOW},
    ).scalar_one()
    if failures >= MAX_FAILED_LOGINS:
        session.execute(text("UPDATE login_throttle SET locked_until = now() + :window WHERE email = :email"),
                        {"email": email, "window": THROTTLE_WINDOW})
    session.commit()


def issue_tokens(uow, user: User) -> dict:
    access, expires_in = credentials.issue_access_token(
        user.id, user.email, user.email_verified_at is not None, roles_of(uow, user.id)
    )
    raw = credentials.new_secret("rt_")
    uow.session.add(RefreshToken(user_id=user.id, token_hash=credentials.digest(raw),
                                 expires_at=now() + credentials.REFRESH_TOKEN_TTL))
    return {"access_token": access, "refresh_token": raw, "expires_in": expires_in, "token_type": "Bearer"}


def login(uow, email: str, password: str, record_failure) -> dict:
    email = normalize_email(email)
    check_throttle(uow, email)
    user = find_user(uow, email)
    if not credentials.verify_password(user.password_hash if user else None, password):
        record_failure(email)
        raise AppError(ErrorCode.INVALID_CREDENTIALS, "wrong email or password")
    uow.session.execute(delete(LoginThrottle).where(LoginThrottle.email == email))
    return issue_tokens(uow, user)


def _live_refresh_token(uow, raw: str) -> RefreshToken:
    token = uow.session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == credentials.digest(raw)).with_for_update()
    )
    if token is None or token.revoked_at is not None or token.expires_at <= now():
        raise AppError(ErrorCode.TOKEN_INVALID, "the refresh token is not valid; sign in again")
    return token


def refresh(uow, raw: str) -> dict:
    """Rotation: the used refresh token is revoked and a new pair issued."""
    token = _live_refresh_token(uow, raw)
    token.revoked_at = now()
    return issue_tokens(uow, get_user(uow, token.user_id))


def logout(uow, raw: str) -> None:
    token = uow.session.scalar(select(RefreshToken).where(RefreshToken.token_hash == credentials.digest(raw)))
    if token is not None and token.revoked_at is None:
        token.revoked_at = now()


def revoke_all_refresh_tokens(uow, user_id: str) -> None:
    uow.session.execute(update(RefreshToken).where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
                        .values(revoked_at=now()))


# ---------------------------------------------------------------- people


def person_view(user: User, profile: Profile) -> dict:
    view = {"user_id": user.id, "org_id": profile.org_id, "email": user.email, "full_name": user.full_name}
    view.update({name: getattr(profile, name) for name in PROFILE_FIELDS})
    return view


def get_person(uow, org_id: str, user_id: str) -> tuple[User, Profile]:
    profile = uow.session.get(Profile, (org_id, user_id))
    if profile is None:
        raise not_found("person")
    return get_user(uow, user_id), profile


def _check_external_id(uow, org_id: str, user_id: str, external_id: str | None) -> None:
    if not external_id:
        return
    holder = uow.session.scalar(select(Profile.user_id).where(Profile.org_id == org_id,
                                                              Profile.external_id == external_id))
    if holder is not None and holder != user_id:
        raise AppError(ErrorCode.CONFLICT, "another person of this organization has this external id",
                       {"external_id": ["already used"]})


def update_person(uow, org_id: str, user_id: str, changes: dict) -> dict:
    user, profile = get_person(uow, org_id, user_id)
    if "external_id" in changes:
        _check_external_id(uow, org_id, user_id, changes["external_id"])
    full_name = changes.pop("full_name", None)
    if full_name:
        user.full_name = full_name.strip()
    for name, value in changes.items():
        setattr(profile, name, value)
    uow.session.flush()
    view = person_view(user, profile)
    uow.publish("identity.profile.updated.v1", view, org_id=org_id)
    return view


def ensure_person(uow, org_id: str, email: str, full_name: str, profile_fields: dict | None = None,
                  via: str = "INVITATION") -> dict:
    """The account for this email (created without a password if new) and its
    profile in the organization (created if missing; given fields filled in)."""
    [answer], registered, changed = _ensure(uow, org_id, [{"email": email, "full_name": full_name,
                                                           **(profile_fields or {})}])
    if isinstance(answer, AppError):
        raise answer
    for user in registered:
        uow.publish("identity.user.registered.v1", {**user, "via": via})
    for view in changed:
        uow.publish("identity.profile.updated.v1", view, org_id=org_id)
    return answer


def ensure_people(uow, org_id: str, people: list[dict]) -> list[dict | AppError]:
    """ensure_person for many people at once (bulk invitations), in a handful
    of statements, announced by one identity.users.registered.v1 and one
    identity.profiles.updated.v1 event. Answers, in order, each person's view
    or the AppError refusing them; a refused person does not stop the others."""
    answers, registered, changed = _ensure(uow, org_id, people)
    if registered:
        uow.publish("identity.users.registered.v1", {"via": "INVITATION", "users": registered})
    if changed:
        uow.publish("identity.profiles.updated.v1", {"org_id": org_id, "people": changed}, org_id=org_id)
    return answers


def _ensure(uow, org_id: str, people: list[dict]) -> tuple[list[dict | AppError], list[dict], list[dict]]:
    """The set-based core of ensure_person(s). `people` are {email, full_name,
    profile fields...}; an email given twice is ensured once, from its first
    row. Returns (answers, accounts created, views of the profiles created or
    filled in). Safe against concurrent calls: accounts and profiles are
    inserted with ON CONFLICT, in a stable order (no deadlocks between batches)."""
    session = uow.session
    session.flush()  # the text statements below must see this unit's ORM changes
    get_org(uow, org_id)
    wanted: dict[str, tuple[str, dict]] = {}  # email -> (full name, non-empty profile fields)
    for person in people:
        email = normalize_email(person["email"])
        if email not in wanted:
            wanted[email] = (person["full_name"].strip(),
                             {k: person[k] for k in PROFILE_FIELDS if person.get(k) not in (None, "")})
    accounts = _accounts(uow, sorted(wanted))

    refused = _external_id_conflicts(uow, org_id, accounts, wanted)
    missing = sorted(email for email in wanted if email not in accounts and email not in refused)
    registered = []
    if missing:
        created = insert_rows(
            session, "users", {"id": "uuid", "email": "text", "full_name": "text"},
            [{"id": new_id(), "email": email, "full_name": wanted[email][0]} for email in missing],
            conflict="ON CONFLICT (email) DO NOTHING", returning="id::text AS user_id, email, full_name",
        ).mappings().all()
        registered = [dict(row) for row in created]
        accounts.update({row["email"]: row for row in registered})
        raced = [email for email in missing if email not in accounts]  # created meanwhile by another call
        accounts.update(_accounts(uow, raced))

    ensured = sorted((accounts[email]["user_id"], email) for email in wanted if email not in refused)
    profiles = {}
    if ensured:
        fill = ", ".join(f"{name} = coalesce(EXCLUDED.{name}, profiles.{name})" for name in PROFILE_FIELDS)
        rows = insert_rows(
            session, "profiles", {"user_id": "uuid", **{name: "text" for name in PROFILE_FIELDS}},
            [{"user_id": user_id, **{name: wanted[email][1].get(name) for name in PROFILE_FIELDS}}
             for user_id, email in ensured],
            constants={"org_id": ("uuid", org_id)}, conflict=f"ON CONFLICT (org_id, user_id) DO UPDATE SET {fill}",
            returning=f"user_id::text AS user_id, {', '.join(PROFILE_FIELDS)}, (xmax = 0) AS created",
        ).mappings().all()
        profiles = {row["user_id"]: row for row in rows}

    views, changed = {}, []
    for email, (_, fields) in wanted.items():
        if email in refused:
            continue
        account = accounts[email]
        profile = profiles[account["user_id"]]
        views[email] = {"user_id": account["user_id"], "org_id": org_id, "email": email,
                        "full_name": account["full_name"], **{name: profile[name] for name in PROFILE_FIELDS}}
        if profile["created"] or fields:
            changed.append(views[email])
    answers = [refused.get(email) or views[email] for email in (normalize_email(p["email"]) for p in people)]
    return answers, registered, changed


def _accounts(uow, emails: list[str]) -> dict[str, dict]:
    if not emails:
        return {}
    rows = uow.session.execute(text(
        "SELECT id::text AS user_id, email, full_name FROM users WHERE email = ANY(CAST(:emails AS text[]))"),
        {"emails": emails}).mappings().all()
    return {row["email"]: dict(row) for row in rows}


def _external_id_conflicts(uow, org_id: str, accounts: dict, wanted: dict) -> dict[str, AppError]:
    """People whose external id another person of the organization holds
    (already, or earlier in this same list)."""
    asked = {fields["external_id"] for _, fields in wanted.values() if fields.get("external_id")}
    if not asked:
        return {}
    holders = dict(uow.session.execute(text(
        "SELECT external_id, user_id::text FROM profiles WHERE org_id = CAST(:org_id AS uuid) "
        "AND external_id = ANY(CAST(:ids AS text[]))"), {"org_id": org_id, "ids": sorted(asked)}).all())
    claimed: dict[str, str] = {}  # external id -> email claiming it in this list
    refused = {}
    for email, (_, fields) in wanted.items():
        external_id = fields.get("external_id")
        if not external_id:
            continue
        holder = holders.get(external_id)
        user_id = accounts.get(email, {}).get("user_id")
        if (holder is not None and holder != user_id) or claimed.get(external_id, email) != email:
            refused[email] = AppError(ErrorCode.CONFLICT, "another person of this organization has this external id",
                                      {"external_id": ["already used"]})
        else:
            claimed[external_id] = email
    return refused


def account_for_invitation(uow, email: str, full_name: str | None, password: str | None) -> User:
    """Accepting an emailed invitation proves the address: create or link the
    account, set a first password if it has none, and mark it verified."""
    user = find_user(uow, email)
    if user is None:
        if not password:
            raise AppError(ErrorCode.INVALID_INPUT, "choose a password to create your account",
                           {"password": ["required for a new account"]})
        user = create_user(uow, email, full_name or email.split("@")[0], via="INVITATION", password=password)
    elif user.password_hash is None:
        if not password:
            raise AppError(ErrorCode.INVALID_INPUT, "choose a password to create your account",
                           {"password": ["required for a new account"]})
        user.password_hash = credentials.hash_password(password)
        if full_name:
            user.full_name = full_name.strip()
    mark_verified(uow, user)
    return user


# ---------------------------------------------------------------- admins


def admin_view(role: AdminRole, user: User) -> dict:
    return {"id": role.id, "user_id": user.id, "email": user.email, "full_name": user.full_name, "role": role.role,
            "program_ids": list(role.program_ids or []), "created_at": role.created_at}


def list_admins(uow, org_id: str) -> list[dict]:
    get_org(uow, org_id)
    rows = uow.session.execute(
        select(AdminRole, User).join(User, User.id == AdminRole.user_id).where(AdminRole.org_id == org_id)
        .order_by(AdminRole.created_at)
    ).all()
    return [admin_view(role, user) for role, user in rows]


def add_admin(uow, org_id: str, email: str, full_name: str, role: str, program_ids: list[str]) -> dict:
    if role == "PROGRAM_ADMIN" and not program_ids:
        raise AppError(ErrorCode.INVALID_INPUT, "a program admin needs at least one program",
                       {"program_ids": ["required for PROGRAM_ADMIN"]})
    if role == "ORG_ADMIN":
        program_ids = []
    ensure_person(uow, org_id, email, full_name, via="ADMIN_INVITE")
    user = find_user(uow, email)
    existing = uow.session.scalar(select(AdminRole).where(AdminRole.org_id == org_id, AdminRole.user_id == user.id,
                                                          AdminRole.role == role).with_for_update())
    if existing is not None:
        if role == "ORG_ADMIN":
            raise AppError(ErrorCode.ALREADY_ADMIN, "this person is already an organization admin")
        existing.program_ids = sorted(set(existing.program_ids or []) | set(program_ids))
        admin = existing
    else:
        admin = AdminRole(org_id=org_id, user_id=user.id, role=role, program_ids=sorted(set(program_ids)))
        uow.session.add(admin)
    uow.session.flush()
    uow.session.refresh(admin)
    if user.password_hash is None:
        request_password_reset(uow, user.email, reason="FIRST_PASSWORD", org_id=org_id)
    uow.publish("identity.admin.granted.v1", {
        "admin_id": admin.id, "org_id": org_id, "user_id": user.id, "email": user.email, "full_name": user.full_name,
        "role": role, "program_ids": list(admin.program_ids),
    }, org_id=org_id)
    return admin_view(admin, user)


def remove_admin(uow, org_id: str, admin_id: str, acting_user_id: str | None) -> None:
    admin = uow.session.get(AdminRole, admin_id)
    if admin is None or admin.org_id != org_id:
        raise not_found("admin")
    if admin.role == "ORG_ADMIN":
        others = uow.session.scalar(
            select(AdminRole.id).where(AdminRole.org_id == org_id, AdminRole.role == "ORG_ADMIN",
                                       AdminRole.id != admin_id).limit(1)
        )
        if others is None:
            raise AppError(ErrorCode.RULE_VIOLATION, "an organization keeps at least one organization admin")
    uow.session.delete(admin)
    uow.publish("identity.admin.revoked.v1", {"admin_id": admin.id, "org_id": org_id, "user_id": admin.user_id,
                                              "role": admin.role}, org_id=org_id)


# ---------------------------------------------------------------- API tokens


def create_api_token(uow, org_id: str, name: str, scopes: list[str], created_by: str | None) -> dict:
    get_org(uow, org_id)
    unknown = sorted(set(scopes) - set(API_TOKEN_SCOPES))
    if unknown:
        raise AppError(ErrorCode.INVALID_INPUT, "unknown scopes", {"scopes": [f"unknown: {', '.join(unknown)}"]})
    raw = credentials.new_secret("lat_")
    token = ApiToken(org_id=org_id, name=name, scopes=sorted(set(scopes)), token_hash=credentials.digest(raw),
                     created_by=created_by)
    uow.session.add(token)
    uow.session.flush()
    return {"id": token.id, "name": token.name, "scopes": token.scopes, "token": raw}


def api_token_view(token: ApiToken) -> dict:
    return {"id": token.id, "name": token.name, "scopes": list(token.scopes), "created_by": token.created_by,
            "created_at": token.created_at, "revoked_at": token.revoked_at}


def list_api_tokens(uow, org_id: str) -> list[dict]:
    """The organization's API tokens (never their secrets), newest first."""
    get_org(uow, org_id)
    tokens = uow.session.scalars(select(ApiToken).where(ApiToken.org_id == org_id)
                                 .order_by(ApiToken.created_at.desc(), ApiToken.id))
    return [api_token_view(token) for token in tokens]


def revoke_api_token(uow, org_id: str, token_id: str) -> dict:
    """The token stops authenticating (identity refuses it at once; gateways
    that cached it, within their cache time). Revoking twice changes nothing."""
    token = uow.session.get(ApiToken, token_id, with_for_update=True) if is_uuid(token_id) else None
    if token is None or token.org_id != org_id:
        raise not_found("API token")
    if token.revoked_at is None:
        token.revoked_at = now()
        uow.session.flush()
    return api_token_view(token)


def is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def authenticate_api_token(uow, raw: str) -> dict:
    token = uow.session.scalar(select(ApiToken).where(ApiToken.token_hash == credentials.digest(raw)))
    if token is None or token.revoked_at is not None:
        raise AppError(ErrorCode.TOKEN_INVALID, "the API token is not valid")
    return {"id": token.id, "org_id": token.org_id, "scopes": list(token.scopes)}


def link_member(uow, org_id: str, user_id: str) -> bool:
    """A person joined a program of the organization: make sure their account
    has a profile there (their reports rows need one). True if one was created."""
    if uow.session.get(Profile, (org_id, user_id)) is not None:
        return False
    user = uow.session.get(User, user_id)
    if user is None or uow.session.get(Organization, org_id) is None:
        raise not_found("account or organization of the member")
    profile = Profile(org_id=org_id, user_id=user_id)
    uow.session.add(profile)
    uow.session.flush()
    uow.publish("identity.profile.updated.v1", person_view(user, profile), org_id=org_id)
    return True
