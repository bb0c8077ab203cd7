"""Sessions: login (throttled), access/refresh tokens, rotation, logout."""
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from contracts.errors import AppError, ErrorCode
from servicekit.db import UnitOfWork
from services.identity import credentials
from services.identity.models import LoginThrottle, RefreshToken, User, normalize_email, now
from services.identity.queries import find_user, get_user, roles_of
from services.identity.settings import settings


def check_throttle(uow: UnitOfWork, email: str) -> None:
    state = uow.session.get(LoginThrottle, email)
    retry_after = state.retry_after_seconds(now()) if state is not None else None
    if retry_after is not None:
        raise AppError(ErrorCode.TOO_MANY_REQUESTS, "too many failed sign-ins; try again later",
                       {"retry_after_seconds": retry_after})


def record_failed_login(email: str, session: Session) -> None:
    """Counted in its own transaction: a refused login commits nothing else."""
    window = settings().throttle_window
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
        {"email": email, "window": window},
    ).scalar_one()
    if failures >= settings().login_max_failures:
        session.execute(text("UPDATE login_throttle SET locked_until = now() + :window WHERE email = :email"),
                        {"email": email, "window": window})
    session.commit()


def issue_tokens(uow: UnitOfWork, user: User) -> dict:
    access, expires_in = credentials.issue_access_token(user.id, user.email, user.email_verified,
                                                        roles_of(uow, user.id))
    raw = credentials.new_secret("rt_")
    uow.session.add(RefreshToken(user_id=user.id, token_hash=credentials.digest(raw),
                                 expires_at=now() + settings().refresh_token_ttl))
    return {"access_token": access, "refresh_token": raw, "expires_in": expires_in, "token_type": "Bearer"}


def issue_tokens_for(uow: UnitOfWork, user_id: str) -> dict:
    return issue_tokens(uow, get_user(uow, user_id))


def login(uow: UnitOfWork, email: str, password: str) -> dict:
    email = normalize_email(email)
    check_throttle(uow, email)
    user = find_user(uow, email)
    if not credentials.verify_password(user.password_hash if user else None, password):
        with uow.independent_session() as session:
            record_failed_login(email, session)
        raise AppError(ErrorCode.INVALID_CREDENTIALS, "wrong email or password")
    uow.session.execute(delete(LoginThrottle).where(LoginThrottle.email == email))
    return issue_tokens(uow, user)


def _live_refresh_token(uow: UnitOfWork, raw: str) -> RefreshToken:
    token = uow.session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == credentials.digest(raw)).with_for_update()
    )
    if token is None or not token.is_live(now()):
        raise AppError(ErrorCode.TOKEN_INVALID, "the refresh token is not valid; sign in again")
    return token


def refresh(uow: UnitOfWork, raw: str) -> dict:
    """Rotation: the used refresh token is revoked and a new pair issued."""
    token = _live_refresh_token(uow, raw)
    token.revoke(now())
    return issue_tokens(uow, get_user(uow, token.user_id))


def logout(uow: UnitOfWork, raw: str) -> None:
    token = uow.session.scalar(select(RefreshToken).where(RefreshToken.token_hash == credentials.digest(raw)))
    if token is not None:
        token.revoke(now())


def revoke_all_refresh_tokens(uow: UnitOfWork, user_id: str) -> None:
    uow.session.execute(update(RefreshToken).where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
                        .values(revoked_at=now()))
