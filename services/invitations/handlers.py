"""invitations' reactions to other services' events: one function per
consumed event (service.py's @handle_event entrypoints call exactly one)."""
import logging

from sqlalchemy import and_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from contracts.errors import AppError, ErrorCode
from contracts.invitations import RevokeReason
from contracts.programs import RemovalReason
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from services.invitations.commands import create_invitation, revoke_pending_of, revoke_pending_of_person
from services.invitations.models import Member, ScimEntitlement
from services.invitations.peers import Peers
from services.invitations.queries import pending_for
from services.invitations.settings import InvitationSettings

log = logging.getLogger(__name__)


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


def scim_entitlements_changed(uow: UnitOfWork, peers: Peers, settings: InvitationSettings, payload: dict) -> dict:
    """identity.scim.entitlements_changed.v1 (docs/scim.md, "How the effects flow"): an active, unverified
    account is invited (an emailed link, which proves the address: the trust rule) to each program its groups
    map to, on the mapping's contract, unless an invitation is pending or they are a member; invitations SCIM
    made for a program no longer in the state (or now that the account is verified: programs joins it) are
    revoked; an inactive person's pending invitations of the organization are all revoked. A version at or
    below the last applied changes nothing. Asking programs for the program's name is the one call out: if
    programs does not answer, the event is retried (nothing is recorded before)."""
    org_id, user_id = payload["org_id"], payload["user_id"]
    done = {"applied": False, "invited": [], "revoked": 0}
    uow.session.execute(pg_insert(ScimEntitlement).values(org_id=org_id, user_id=user_id, version=0)
                        .on_conflict_do_nothing())
    row = uow.session.scalar(select(ScimEntitlement).where(
        ScimEntitlement.org_id == org_id, ScimEntitlement.user_id == user_id)
        .with_for_update().execution_options(populate_existing=True))
    if payload["version"] <= row.version:
        log.info("scim: entitlements v%s of %s in %s ignored (v%s applied)", payload["version"], user_id, org_id,
                 row.version)
        return done
    done["applied"] = True
    invited = set(row.invited or ())
    if not payload["active"]:
        done["revoked"] += revoke_pending_of_person(uow, org_id, user_id)
        invited = set()
    else:
        desired = {} if payload["verified"] else {p["program_id"]: p for p in payload["programs"]}
        for program_id in sorted(invited - set(desired)):
            done["revoked"] += revoke_pending_of_person(uow, org_id, user_id, program_id)
        invited &= set(desired)
        for program_id, wanted in sorted(desired.items()):
            if _invite(uow, peers, settings, payload, wanted):
                invited.add(program_id)
                done["invited"].append(program_id)
            elif pending_for(uow, program_id, payload["email"]) is not None:
                invited.add(program_id)
    row.version = payload["version"]
    row.invited = sorted(invited)
    row.updated_at = utcnow()
    uow.session.flush()
    return done


def _invite(uow: UnitOfWork, peers: Peers, settings: InvitationSettings, payload: dict, wanted: dict) -> bool:
    """One invitation, emailed; False when one is pending already, the person is a member, or programs refuses
    the program (removed, not taking that contract: logged)."""
    program_id = wanted["program_id"]
    if pending_for(uow, program_id, payload["email"]) is not None or uow.session.get(
            Member, (program_id, payload["user_id"])) is not None:
        return False
    try:
        program = peers.program_with_contract(payload["org_id"], program_id, wanted["contract_id"])
    except AppError as exc:
        if exc.code == ErrorCode.SERVICE_UNAVAILABLE:
            raise  # retried: programs will answer
        log.warning("scim: %s is not invited to %s: %s", payload["user_id"], program_id, exc.code)
        return False
    person = {"user_id": payload["user_id"], "email": payload["email"],
              "full_name": (payload.get("full_name") or payload["email"])[:200]}
    try:
        create_invitation(uow, payload["org_id"], program, wanted["contract_id"], person, True, None, None, settings)
    except AppError as exc:
        if exc.code != ErrorCode.DUPLICATE_INVITATION:
            raise
        return False
    return True
