"""Accounts: sign-up, email verification, password links, invitation accounts."""
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from contracts.errors import AppError, ErrorCode
from contracts.identity import (
    USER_EMAIL_VERIFIED,
    USER_PASSWORD_RESET_REQUESTED,
    USER_REGISTERED,
    USER_VERIFICATION_REQUESTED,
    OneTimeTokenPurpose,
    PasswordResetReason,
    RegisteredVia,
)
from servicekit import config
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from servicekit.models import new_id, normalize_email
from services.identity import credentials
from services.identity.commands import profiles, throttle
from services.identity.commands.sessions import check_password, refuse_password_if_sso_only, revoke_sessions
from services.identity.models import OneTimeToken, User
from services.identity.queries import find_user, get_user
from services.identity.settings import settings


def user_registered_payload(user: User, via: str) -> dict:
    return {"user_id": user.id, "email": user.email, "full_name": user.full_name, "via": via}


def create_user(uow: UnitOfWork, email: str, full_name: str, via: str, password_hash: str | None = None) -> User:
    """The new account; EMAIL_TAKEN if one exists, also when it is being
    created at this moment by a concurrent call (the insert waits for it)."""
    user_id = uow.session.scalar(
        insert(User).values(id=new_id(), email=normalize_email(email), full_name=full_name.strip(),
                            password_hash=password_hash)
        .on_conflict_do_nothing(index_elements=[User.email]).returning(User.id)
    )
    if user_id is None:
        raise AppError(ErrorCode.EMAIL_TAKEN, "an account with this email exists")
    user = get_user(uow, user_id)
    uow.publish(USER_REGISTERED, user_registered_payload(user, via))
    return user


def signup(uow: UnitOfWork, email: str, full_name: str, password: str, client: str | None = None) -> User:
    """`client`: the caller's address as the gateway saw it; sign-ups (each
    sends a verification email) are limited per client address. Per address
    there is at most one: a second sign-up is EMAIL_TAKEN and sends nothing."""
    with uow.independent_session() as session:
        throttle.claim_request(session, "signup", None, client, None, settings().signup_max_per_client)
    password_hash = credentials.hash_password(password)  # before the unit of work takes a connection
    user = create_user(uow, email, full_name, via=RegisteredVia.SIGNUP, password_hash=password_hash)
    request_verification(uow, user)
    return user


def _lock_links_of(uow: UnitOfWork, user_id: str) -> None:
    """Issuing and using a user's links take turns (on the user's row), so
    superseding never races nor deadlocks."""
    uow.session.execute(select(User.id).where(User.id == user_id).with_for_update())


def _supersede_links(uow: UnitOfWork, user_id: str, purpose: str, keep: str | None = None) -> None:
    live = [OneTimeToken.user_id == user_id, OneTimeToken.purpose == purpose, OneTimeToken.used_at.is_(None),
            OneTimeToken.superseded_at.is_(None)]
    if keep is not None:
        live.append(OneTimeToken.id != keep)
    uow.session.execute(update(OneTimeToken).where(*live).values(superseded_at=utcnow()))


def _one_time_token(uow: UnitOfWork, user: User, purpose: str, ttl: timedelta) -> tuple[str, datetime]:
    """A new link; the user's older links of this purpose stop working."""
    _lock_links_of(uow, user.id)
    _supersede_links(uow, user.id, purpose)
    raw = credentials.new_secret()
    expires_at = utcnow() + ttl
    uow.session.add(OneTimeToken(user_id=user.id, purpose=purpose, token_hash=credentials.digest(raw),
                                 expires_at=expires_at))
    return raw, expires_at


def _use_one_time_token(uow: UnitOfWork, raw: str, purpose: str) -> User:
    token = uow.session.scalar(
        select(OneTimeToken).where(OneTimeToken.token_hash == credentials.digest(raw),
                                   OneTimeToken.purpose == purpose)
    )
    if token is None:
        raise AppError(ErrorCode.TOKEN_INVALID, "this link is not valid")
    _lock_links_of(uow, token.user_id)
    uow.session.refresh(token)  # as the last link operation on this user left it
    token.redeem(utcnow())
    _supersede_links(uow, token.user_id, purpose, keep=token.id)  # links issued alongside it
    return get_user(uow, token.user_id)


def request_verification(uow: UnitOfWork, user: User) -> None:
    raw, expires_at = _one_time_token(uow, user, OneTimeTokenPurpose.VERIFY_EMAIL, settings().verify_token_ttl)
    uow.publish(USER_VERIFICATION_REQUESTED, {
        "user_id": user.id, "email": user.email, "full_name": user.full_name, "name_trusted": user.email_verified,
        "verify_url": f"{config.public_url()}/verify-email?token={raw}", "expires_at": expires_at.isoformat(),
    })


def resend_verification(uow: UnitOfWork, email: str, client: str | None = None) -> None:
    """Someone asked for a new verification link: limited per address and per
    client with the limits of reset requests, counted apart from them (and
    whether or not the account exists).
    Sent only to an account that exists and is not verified yet; the caller's
    answer is the same in every case, so it reveals no account."""
    s = settings()
    email = normalize_email(email)
    with uow.independent_session() as session:
        throttle.claim_request(session, "verify", email, client, s.reset_max_per_email, s.reset_max_per_client)
    user = find_user(uow, email)
    if user is not None and not user.email_verified:
        request_verification(uow, user)


def mark_verified(uow: UnitOfWork, user: User, publishing_org: str | None = None, scim_states: bool = True) -> None:
    """The account's address is proven. Where SCIM provisioned it, its entitlement state (verified now: it joins
    its groups' programs) is published in this transaction (scim.accounts_verified); `publishing_org`: the SCIM
    change under way there publishes that organization's itself. `scim_states` False: not now (an invitation
    being accepted, below)."""
    if user.mark_verified(utcnow()):
        uow.publish(USER_EMAIL_VERIFIED, {"user_id": user.id, "email": user.email})
        if scim_states:
            from services.identity.commands import scim  # scim uses this module

            scim.accounts_verified(uow, [user.id], except_org=publishing_org)


def ensure_verified_person(uow: UnitOfWork, org_id: str, email: str, full_name: str, password: str,
                           via: str = RegisteredVia.COMMAND) -> User:
    """A person of the organization (profiles.ensure_person) whose account is verified and has a
    password: `password` is set when the account has none yet. Set before a role is added, it spares
    the first-password email. Commands, the demo, tests and benches make their admins with it."""
    profiles.ensure_person(uow, org_id, email, full_name, via=via)
    user = find_user(uow, email)
    if user.password_hash is None:
        user.password_hash = credentials.hash_password(password)
    mark_verified(uow, user)
    return user


def verify_email(uow: UnitOfWork, raw_token: str) -> User:
    user = _use_one_time_token(uow, raw_token, OneTimeTokenPurpose.VERIFY_EMAIL)
    mark_verified(uow, user)
    return user


def request_password_reset_link(uow: UnitOfWork, email: str, client: str | None = None) -> None:
    """Someone asked for a reset email: limited per address and per client
    (counted whether or not the account exists, which the answer must not reveal)."""
    s = settings()
    with uow.independent_session() as session:
        throttle.claim_request(session, "reset", normalize_email(email), client,
                               s.reset_max_per_email, s.reset_max_per_client)
    request_password_reset(uow, email)


def request_password_reset(uow: UnitOfWork, email: str, reason: str = PasswordResetReason.RESET,
                           org_id: str | None = None, given_name: str | None = None) -> None:
    """Silently does nothing for unknown emails: the answer must not reveal
    accounts. `given_name`: the name an org admin gave the person (shown
    instead of an unverified account's own)."""
    user = find_user(uow, email)
    if user is None:
        return
    ttl = settings().first_password_ttl if reason == PasswordResetReason.FIRST_PASSWORD else settings().reset_token_ttl
    raw, expires_at = _one_time_token(uow, user, OneTimeTokenPurpose.PASSWORD_RESET, ttl)
    uow.publish(USER_PASSWORD_RESET_REQUESTED, {
        "user_id": user.id, "email": user.email, "full_name": given_name or user.full_name,
        "name_trusted": bool(given_name) or user.email_verified,
        "reset_url": f"{config.public_url()}/reset-password?token={raw}", "expires_at": expires_at.isoformat(),
        "reason": reason, "org_id": org_id,
    }, org_id=org_id)


def confirm_password_reset(uow: UnitOfWork, raw_token: str, password: str) -> User:
    password_hash = credentials.hash_password(password)  # before the unit of work takes a connection
    user = _use_one_time_token(uow, raw_token, OneTimeTokenPurpose.PASSWORD_RESET)
    user.password_hash = password_hash
    mark_verified(uow, user)  # the emailed link proves the address
    revoke_sessions(uow, user.id)
    return user


def _require_password(password: str | None) -> None:
    if not password:
        raise AppError(ErrorCode.INVALID_INPUT, "choose a password to create your account",
                       {"password": ["required for a new account"]})


def _trusted_password_holder(uow: UnitOfWork, email: str) -> str | None:
    """The id of the account of `email` if it has a password that counts (a
    verified address's), read on its own short transaction."""
    with uow.independent_session() as session:
        return session.scalar(select(User.id).where(User.email == normalize_email(email),
                                                    User.password_hash.is_not(None),
                                                    User.email_verified_at.is_not(None)))


def distrust_unverified_password(uow: UnitOfWork, user: User) -> None:
    """Before the address is granted anything by someone else: an unverified
    sign-up's password is cleared and its sessions revoked (whoever signed up
    may not own the address)."""
    if user.distrust_unverified_password():
        revoke_sessions(uow, user.id)


def account_for_invitation(uow: UnitOfWork, email: str, full_name: str | None, password: str | None,
                           signed_in_user_id: str | None = None, client: str | None = None) -> User:
    """Accepting an emailed invitation proves the address: create or link the
    account, set a first password if it has none (an unverified sign-up's
    password does not count), and mark it verified. An account that has a
    (trusted) password is linked only for its owner: signed in as it
    (`signed_in_user_id`), or giving its password, checked and throttled like
    a login (`client`): the link alone is not a login."""
    holder = _trusted_password_holder(uow, email)
    if holder is not None and holder != signed_in_user_id:
        if not password:
            raise AppError(ErrorCode.INVALID_CREDENTIALS, "this address has an account: sign in, or give its "
                           "password, to accept", {"password": ["required: the account has a password"]})
        check_password(uow, normalize_email(email), password, client)
        # "only SSO" (docs/sso.md): the password does not sign in here either; sign in with the company
        # account, then accept while signed in
        refuse_password_if_sso_only(uow, find_user(uow, email))
    if holder is not None:
        password = None  # the account keeps its password
    # hashed before the unit of work takes a connection (unused if the account has a password)
    password_hash = credentials.hash_password(password) if password else None
    user = find_user(uow, email)
    if user is None:
        _require_password(password)
        user = create_user(uow, email, full_name or email.split("@")[0], via=RegisteredVia.INVITATION,
                           password_hash=password_hash)
    else:
        distrust_unverified_password(uow, user)
    if user.password_hash is None:
        _require_password(password)
        user.password_hash = password_hash
        if full_name:
            user.full_name = full_name.strip()
    # Not announced to SCIM's consumers here: the invitation's own join follows this answer, and programs joining
    # the person from the event first would make it ALREADY_MEMBER (the acceptance refused). The state says
    # verified at the person's next SCIM change (docs/scim.md, "What is not supported").
    mark_verified(uow, user, scim_states=False)
    return user
