"""invitations' reactions to other services' events: one function per
consumed event (service.py's @handle_event entrypoints call exactly one)."""
from sqlalchemy import and_
from sqlalchemy.dialects.postgresql import insert as pg_insert

from contracts.invitations import RevokeReason
from contracts.programs import RemovalReason
from servicekit.db import UnitOfWork
from services.invitations.commands import revoke_pending_of
from services.invitations.models import Member


def member_joined(uow: UnitOfWork, payload: dict) -> None:
    """programs.member.joined.v1: remember the member (an import then counts
    'already a member' without asking programs per row)."""
    uow.session.execute(pg_insert(Member).values(program_id=payload["program_id"], user_id=payload["user_id"])
                        .on_conflict_do_nothing())


def member_removed(uow: UnitOfWork, payload: dict) -> None:
    """programs.member.removed.v1: forget the member; their pending invitations
    to the program are revoked."""
    _forget_members(uow, payload["program_id"], payload["user_id"])
    reason = RevokeReason.PROGRAM_REMOVED if payload["reason"] == RemovalReason.PROGRAM_REMOVED \
        else RevokeReason.MEMBER_REMOVED
    revoke_pending_of(uow, payload["program_id"], reason, user_id=payload["user_id"])


def program_removed(uow: UnitOfWork, payload: dict) -> None:
    """programs.program.removed.v1: forget its members; revoke its pending invitations."""
    _forget_members(uow, payload["program_id"])
    revoke_pending_of(uow, payload["program_id"], RevokeReason.PROGRAM_REMOVED)


def _forget_members(uow: UnitOfWork, program_id: str, user_id: str | None = None) -> None:
    condition = Member.program_id == program_id
    if user_id:
        condition = and_(condition, Member.user_id == user_id)
    uow.session.execute(Member.__table__.delete().where(condition))
