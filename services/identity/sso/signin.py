"""A sign-in through a connection, as the gateway drives it:

    begin  -> the provider's URL (the browser goes there)
    finish -> (the provider sent the browser back) a one-time handoff code
    redeem -> (the console, server to server) the session's tokens

Tokens are minted here only, and never travel in a URL: the browser carries
the handoff code (single use, 2 minutes) to the console, which redeems it.
Every refusal is recorded for the organization's audit log
(identity.sign_in.failed.v1) in its own transaction, and re-raised.

Refused answers (the OIDC callback, the SAML ACS) are counted per client
address (throttle.count_refusal, key `sso-answer-c:<ip>`): at
SSO_ANSWER_MAX_REFUSALS_PER_CLIENT in the throttle's window the client is
locked, recorded once (reason TOO_MANY_REFUSALS), and its answers are refused
(429) before they are read, with no audit entry each: a flood of forged
answers cannot grow the audit log without bound."""
from datetime import timedelta

from sqlalchemy import select, text, update

from contracts.errors import AppError, ErrorCode
from contracts.identity import SIGN_IN_FAILED
from contracts.sso import SsoKind
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from servicekit.models import parse_uuid
from services.identity import credentials
from services.identity.commands import throttle
from services.identity.commands.sessions import issue_tokens
from services.identity.models import OneTimeToken, User
from services.identity.settings import settings
from services.identity.sso import config
from services.identity.sso.errors import refused
from services.identity.sso.models import SsoConnection, SsoLogin

HANDOFF = "SSO_HANDOFF"  # one_time_tokens.purpose
HANDOFF_TTL = timedelta(minutes=2)


def record_failure(uow: UnitOfWork, org_id: str | None, method: str, reason: str, email: str = "",
                   user_id: str | None = None) -> None:
    with uow.independent_session() as session:
        if user_id is None and email:
            user_id = session.scalar(select(User.id).where(User.email == email))
        org_ids = sorted({str(org_id)} if org_id else set())
        uow.publish_independently(session, SIGN_IN_FAILED,
                                  {"email": (email or "")[:320], "user_id": user_id, "method": method,
                                   "reason": reason[:100], "org_ids": org_ids}, str(org_id) if org_id else None)
        session.commit()


def _reason(exc: AppError) -> str:
    return str((exc.details or {}).get("reason") or exc.code)


ANSWERS = "sso-answer"  # throttle keys sso-answer-c:<client address>
LOCKED_REASON = "TOO_MANY_REFUSALS"
LOCKED_MESSAGE = "too many refused sign-in answers from this address; try again later"


def _locked(exc: AppError) -> AppError:
    """The throttle's 429 naming why (its details travel as the exception's args: a new error)."""
    return AppError(exc.code, exc.message, {**(exc.details or {}), "reason": LOCKED_REASON})


def refuse_locked_client(uow: UnitOfWork, client: str | None) -> None:
    """A client locked for its refused answers is refused before its answer is read (nothing recorded)."""
    with uow.independent_session() as session:
        try:
            throttle.refuse_locked(session, ANSWERS, client, LOCKED_MESSAGE)
        except AppError as exc:
            raise _locked(exc) from None


def refused_answer(uow: UnitOfWork, exc: AppError, client: str | None, org_id: str | None, method: str,
                   email: str = "") -> AppError:
    """Count a refused answer of the client, record it (the sign_in.failed entry) and answer the error to
    raise: the refusal itself, or 429 when a concurrent refusal locked the client first (then not recorded).
    The refusal that locks the client is recorded, and the lock once more (reason TOO_MANY_REFUSALS).
    A fault of the platform or of the provider (503) is recorded but not counted against the client."""
    outcome = None
    if exc.code != ErrorCode.SERVICE_UNAVAILABLE:
        with uow.independent_session() as session:
            try:
                outcome = throttle.count_refusal(session, ANSWERS, client,
                                                 settings().sso_answer_max_refusals_per_client, LOCKED_MESSAGE)
            except AppError as locked:
                return _locked(locked)
    record_failure(uow, org_id, method, _reason(exc), email)
    if outcome == throttle.LOCKED_NOW:
        record_failure(uow, org_id, method, LOCKED_REASON)
    return exc


def enabled_connection(uow: UnitOfWork, connection_id: str) -> SsoConnection:
    connection = config.get_connection(uow, None, connection_id)
    if not connection.enabled:
        raise AppError(ErrorCode.NOT_FOUND, "connection not found")
    return connection


PURGE_BATCH = 200


def purge_expired(uow: UnitOfWork) -> None:
    """Sign-ins that ended (an hour after they expired) and SAML assertion ids past their
    validity go, a batch at a time, whenever a sign-in starts: the tables stay small."""
    uow.session.execute(text(
        "DELETE FROM sso_logins WHERE id IN (SELECT id FROM sso_logins WHERE expires_at < now() - interval '1 hour' "
        "LIMIT :n FOR UPDATE SKIP LOCKED)"), {"n": PURGE_BATCH})
    uow.session.execute(text(
        "DELETE FROM sso_saml_assertions WHERE (connection_id, assertion_id) IN (SELECT connection_id, assertion_id "
        "FROM sso_saml_assertions WHERE expires_at < now() LIMIT :n FOR UPDATE SKIP LOCKED)"), {"n": PURGE_BATCH})


def begin(uow: UnitOfWork, connection_id: str, return_to: str | None = None, client: str | None = None) -> dict:
    """`client`: the caller's address as the gateway saw it. Each start stores a sign-in under way, so starts are
    limited per client address (the email request limits' throttle: 429 TOO_MANY_REQUESTS with
    `retry_after_seconds`), counted before anything else (an unknown connection counts too)."""
    with uow.independent_session() as session:
        throttle.claim_request(session, "sso-start", None, client, None, settings().sso_start_max_per_client)
    connection = enabled_connection(uow, connection_id)
    purge_expired(uow)
    try:
        if connection.kind == SsoKind.OIDC:
            from services.identity.sso import oidc

            return {"redirect_url": oidc.begin(uow, connection, return_to), "kind": connection.kind}
        from services.identity.sso import saml

        return {**saml.begin(uow, connection, return_to), "kind": connection.kind}
    except AppError as exc:
        record_failure(uow, connection.org_id, connection.kind, _reason(exc))
        raise


def _claim_login(uow: UnitOfWork, state: str) -> SsoLogin:
    """The sign-in this state started, claimed once (its own transaction: a
    state is spent even when what follows is refused)."""
    with uow.independent_session() as session:
        login_id = session.scalar(
            update(SsoLogin).where(SsoLogin.state_hash == credentials.digest(state), SsoLogin.used_at.is_(None),
                                   SsoLogin.expires_at > utcnow())
            .values(used_at=utcnow()).returning(SsoLogin.id))
        session.commit()
    return None if login_id is None else uow.session.get(SsoLogin, login_id)


def handoff(uow: UnitOfWork, user: User) -> str:
    raw = credentials.new_secret("sso_")
    uow.session.add(OneTimeToken(user_id=user.id, purpose=HANDOFF, token_hash=credentials.digest(raw),
                                 expires_at=utcnow() + HANDOFF_TTL))
    return raw


def signed_in(uow: UnitOfWork, connection: SsoConnection, outcome: dict, return_to: str | None) -> dict:
    """What the gateway needs after a sign-in: the handoff code, where to go,
    and the programs the connection joins people to (the gateway asks programs)."""
    user = outcome["user"]
    return {"handoff_code": handoff(uow, user), "return_to": return_to, "org_id": connection.org_id,
            "user_id": user.id, "email": user.email, "full_name": user.full_name, "created": outcome["created"],
            "auto_join": list(connection.auto_join or []), "connection_name": connection.name}


def finish_oidc(uow: UnitOfWork, state: str | None, code: str | None, error: str | None,
                client: str | None = None) -> dict:
    from services.identity.sso import oidc

    refuse_locked_client(uow, client)
    connection_id = parse_uuid((state or "").split(".", 1)[0])
    connection = uow.session.get(SsoConnection, connection_id) if connection_id else None
    org_id = connection.org_id if connection is not None else None
    login = _claim_login(uow, state) if state else None
    if login is None or connection is None or login.connection_id != connection.id:
        raise refused_answer(uow, refused("STATE_INVALID", "this sign-in link is not valid, was already used or "
                                                           "has expired: start again from the sign-in page"),
                             client, org_id, SsoKind.OIDC)
    try:
        outcome = oidc.finish(uow, connection, login, code, error)
    except AppError as exc:
        raise refused_answer(uow, exc, client, org_id, SsoKind.OIDC, getattr(exc, "email", "") or "") from None
    return signed_in(uow, connection, outcome, login.return_to)


def finish_saml(uow: UnitOfWork, connection_id: str, relay_state: str | None, saml_response: str | None,
                client: str | None = None) -> dict:
    """The ACS: the response is checked before the RelayState is spent, so that a replayed
    assertion is named as such (ASSERTION_REPLAYED) and audited."""
    from services.identity.sso import saml

    refuse_locked_client(uow, client)
    connection = enabled_connection(uow, connection_id)
    if connection.kind != SsoKind.SAML:
        raise AppError(ErrorCode.NOT_FOUND, "connection not found")
    login = uow.session.scalar(select(SsoLogin).where(
        SsoLogin.state_hash == credentials.digest(relay_state or ""), SsoLogin.connection_id == connection.id,
        SsoLogin.expires_at > utcnow()).with_for_update()) if relay_state else None
    try:
        if login is None:
            raise refused("STATE_INVALID", "this sign-in is not valid or has expired: start again from the "
                                           "sign-in page")
        if not saml_response:
            raise refused("RESPONSE_INVALID", "the identity provider sent no SAML response")
        outcome = saml.finish(uow, connection, login, saml_response)
        if login.used_at is not None:
            raise refused("STATE_INVALID", "this sign-in was already completed: start again from the sign-in page")
        saml.spend_state(uow, login)
    except AppError as exc:
        uow.rollback()
        raise refused_answer(uow, exc, client, connection.org_id, SsoKind.SAML) from None
    return signed_in(uow, connection, outcome, login.return_to)


def saml_metadata(uow: UnitOfWork, connection_id: str) -> str:
    from services.identity.sso import saml

    connection = config.get_connection(uow, None, connection_id)
    if connection.kind != SsoKind.SAML:
        raise AppError(ErrorCode.NOT_FOUND, "connection not found")
    return saml.sp_metadata(connection)


def redeem(uow: UnitOfWork, raw: str) -> dict:
    """The session tokens for a handoff code (single use, 2 minutes)."""
    token = uow.session.scalar(select(OneTimeToken).where(OneTimeToken.token_hash == credentials.digest(raw),
                                                          OneTimeToken.purpose == HANDOFF).with_for_update())
    if token is None or token.used_at is not None or token.expires_at <= utcnow():
        raise AppError(ErrorCode.TOKEN_INVALID, "this sign-in has expired or was already used: sign in again")
    token.used_at = utcnow()
    user = uow.session.get(User, token.user_id)
    return issue_tokens(uow, user)
