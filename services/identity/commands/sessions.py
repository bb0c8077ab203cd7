"""Sessions: login (throttled), access/refresh tokens, rotation, logout."""
from sqlalchemy import select, update

from contracts.errors import AppError, ErrorCode
from contracts.identity import SIGN_IN_FAILED, SIGN_IN_SUCCEEDED, SignInMethod
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from servicekit.models import new_id, normalize_email
from services.identity import credentials
from services.identity.commands import throttle
from services.identity.models import AdminRole, Profile, RefreshToken, User
from services.identity.queries import find_user, get_user, roles_of
from services.identity.settings import settings


def issue_tokens(uow: UnitOfWork, user: User, family_id: str | None = None) -> dict:
    """A new access token and refresh token; the refresh token starts a new
    family (a sign-in) unless it is rotated from one of `family_id`."""
    access, expires_in = credentials.issue_access_token(user.id, user.email, user.email_verified,
                                                        roles_of(uow, user.id), user.token_version)
    raw = credentials.new_secret("rt_")
    uow.session.add(RefreshToken(user_id=user.id, family_id=family_id or new_id(), token_hash=credentials.digest(raw),
                                 expires_at=utcnow() + settings().refresh_token_ttl))
    return {"access_token": access, "refresh_token": raw, "expires_in": expires_in, "token_type": "Bearer"}


def issue_tokens_for(uow: UnitOfWork, user_id: str) -> dict:
    return issue_tokens(uow, get_user(uow, user_id))


def login(uow: UnitOfWork, email: str, password: str, client: str | None = None) -> dict:
    """`client`: the caller's address, as the gateway saw it (throttle.py)."""
    email = normalize_email(email)
    try:
        password_hash, rehashed = check_password(uow, email, password, client)
    except AppError as refused:
        # Only an account's refusals are recorded (one more short transaction): guesses at
        # addresses that are no account's would let a flood cost two transactions per attempt.
        if refused.code not in UNRECORDED_REFUSALS and getattr(refused, "account_known", False):
            record_sign_in_failure(uow, email, refused.code)
        raise
    user = find_user(uow, email)
    if rehashed and user.password_hash == password_hash:
        user.password_hash = rehashed
    if not user.email_verified:
        uow.commit()  # the right password: the throttle takes this attempt back although sign-in is refused
        raise email_not_verified()
    refuse_password_if_sso_only(uow, user)
    uow.publish(SIGN_IN_SUCCEEDED, {"user_id": user.id, "email": user.email, "method": SignInMethod.PASSWORD,
                                    "org_ids": orgs_of(uow.session, user.id)})
    return issue_tokens(uow, user)


RESEND_ROUTE = "POST /v1/auth/verify-email/resend"


def refuse_password_if_sso_only(uow: UnitOfWork, user: User) -> None:
    """"Only SSO" (docs/sso.md): an address in a domain verified by an organization
    that requires single sign-on signs in through its connections; its org admins keep
    their password (break-glass)."""
    from services.identity.sso.config import connection_view, sso_required_for

    connections = sso_required_for(uow, user.id, user.email)
    if connections is None:
        return
    uow.commit()  # the right password: the throttle takes this attempt back although sign-in is refused
    record_sign_in_failure(uow, user.email, ErrorCode.SSO_REQUIRED)
    raise AppError(ErrorCode.SSO_REQUIRED, "your organization signs you in with your company account",
                   {"sso": [{"name": c.name, "start_url": connection_view(c)["start_url"]} for c in connections]})


def email_not_verified() -> AppError:
    """Until its address is verified an account can only verify it (issue 11
    item 1): whoever signed up may not own the address. Only asked after the
    right password, so it tells nothing to anyone who does not know it."""
    return AppError(ErrorCode.EMAIL_NOT_VERIFIED,
                    "confirm your email address first: use the link we emailed you, or ask for a new one "
                    f"({RESEND_ROUTE} with your email)", {"resend": RESEND_ROUTE})


# Refusals not recorded one by one: the throttle's (an attacker would write the audit log at
# request rate; the failures that tripped it are recorded) and an unavailable service's.
UNRECORDED_REFUSALS = {ErrorCode.TOO_MANY_REQUESTS, ErrorCode.SERVICE_UNAVAILABLE}


def orgs_of(session, user_id: str) -> list[str]:
    """The organizations a person belongs to (an admin role or a profile): whose audit logs see their sign-ins."""
    roles = select(AdminRole.org_id).where(AdminRole.user_id == user_id)
    profiles = select(Profile.org_id).where(Profile.user_id == user_id)
    return sorted(str(org_id) for org_id in session.scalars(roles.union(profiles)))


def record_sign_in_failure(uow: UnitOfWork, email: str, reason: str) -> None:
    """identity.sign_in.failed.v1, kept although the login is refused (its
    own transaction, as the failure count is)."""
    with uow.independent_session() as session:
        user_id = session.scalar(select(User.id).where(User.email == email))
        uow.publish_independently(session, SIGN_IN_FAILED, {
            "email": email[:320], "user_id": user_id, "method": SignInMethod.PASSWORD, "reason": str(reason),
            "org_ids": orgs_of(session, user_id) if user_id else []})
        session.commit()


def check_password(uow: UnitOfWork, email: str, password: str, client: str | None = None) -> tuple:
    """A login's check, throttled alike (login, and accepting an invitation for
    an account that has a password). The password is checked with no database
    connection held: the attempt is claimed and the hash read in one short
    transaction first. Returns (the stored hash, a rehash to store or None)."""
    with uow.independent_session() as session:
        keys = throttle.claim_attempt(session, email, client)
        password_hash = session.scalar(select(User.password_hash).where(User.email == email))
        session.commit()
    matches, rehashed = credentials.verify_password(password_hash, password)
    if not matches:
        refused = AppError(ErrorCode.INVALID_CREDENTIALS, "wrong email or password")
        refused.account_known = password_hash is not None  # (sign-in failures of accounts are audited)
        raise refused
    throttle.succeeded(uow.session, keys)
    return password_hash, rehashed


def refresh(uow: UnitOfWork, raw: str) -> dict:
    """Rotation: the used refresh token is revoked and a new pair issued in
    its family. A token used again after its rotation was stolen or leaked
    (OAuth 2.0 security BCP): the whole family is revoked, so neither the
    thief nor the client holds a working token; the person signs in again."""
    token = uow.session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == credentials.digest(raw)).with_for_update()
    )
    if token is not None and token.revoked_at is not None:
        revoke_refresh_family(uow, token.family_id)
        uow.commit()  # the revocation stands although this call is refused
    if token is None or not token.is_live(utcnow()):
        raise AppError(ErrorCode.TOKEN_INVALID, "the refresh token is not valid; sign in again")
    user = get_user(uow, token.user_id)
    if not user.email_verified:  # a session from before sign-in asked for a verified address
        raise email_not_verified()
    token.revoke(utcnow())
    return issue_tokens(uow, user, family_id=token.family_id)


def revoke_refresh_family(uow: UnitOfWork, family_id: str) -> None:
    uow.session.execute(update(RefreshToken).where(RefreshToken.family_id == family_id,
                                                   RefreshToken.revoked_at.is_(None)).values(revoked_at=utcnow()))


def logout(uow: UnitOfWork, raw: str, everywhere: bool = False) -> None:
    """Revoke this refresh token; `everywhere`: every session of its user,
    access tokens included (revoke_sessions)."""
    token = uow.session.scalar(select(RefreshToken).where(RefreshToken.token_hash == credentials.digest(raw)))
    if token is None or not token.is_live(utcnow()):
        return
    if everywhere:
        revoke_sessions(uow, token.user_id)
    else:
        token.revoke(utcnow())


def revoke_all_refresh_tokens(uow: UnitOfWork, user_id: str) -> None:
    uow.session.execute(update(RefreshToken).where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
                        .values(revoked_at=utcnow()))


def revoke_access_tokens(uow: UnitOfWork, user_id: str) -> None:
    """The user's access tokens issued so far stop working: the gateway
    refuses a token whose version is older than the user's (TOKEN_REVOKED)."""
    uow.session.execute(update(User).where(User.id == user_id).values(token_version=User.token_version + 1))


def revoke_sessions(uow: UnitOfWork, user_id: str) -> None:
    """Every refresh and access token of the user."""
    revoke_all_refresh_tokens(uow, user_id)
    revoke_access_tokens(uow, user_id)
