"""SCIM's effects on memberships (docs/scim.md, "How the effects flow"): identity publishes a person's whole
entitlement state in an organization with a version (identity.scim.entitlements_changed.v1); programs
converges to it.

* A version at or below the last one applied for (org, person) changes nothing: a redelivered event, or an
  older one arriving after a newer (its state is already outdated).
* Inactive: the person leaves every program of the organization as by `remove_person` (licenses freed,
  enrollments downgraded, member.removed with reason DEPROVISIONED; no exit email when the organization's
  deprovision_exit_email is false).
* Active: a verified account joins each program its groups map to, charging the mapping's contract, with the
  checks of any join (licenses, contract dates); an unverified one is invited by invitations instead. SCIM
  *manages* a membership of a program its groups map to (joined by SCIM, by an invitation SCIM caused, or
  there already): when the program is no longer in the state, that membership is removed, as an admin's
  removal (exit email, member.removed ADMIN_REMOVED). A membership SCIM never managed is never removed by a
  group change (only deprovisioning removes everything).
* A refused join is published (programs.member.join_refused.v1, an audit entry) and remembered in `refused`;
  it is tried again at the person's next event (an org admin can cause one for a whole group by setting its
  mapping again, e.g. after adding licenses)."""
import logging

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from contracts.errors import AppError
from contracts.programs import MEMBER_JOIN_REFUSED, MemberState, RemovalReason
from servicekit.db import UnitOfWork
from servicekit.models import parse_uuid
from services.programs.boundary import storable
from services.programs.commands.memberships import join_program, lock_contracts, remove_memberships, remove_person
from services.programs.models import Membership, Program, ScimEntitlement
from services.programs.queries import find_membership, now

log = logging.getLogger(__name__)
VIA = "SCIM"


def _state_row(uow: UnitOfWork, org_id: str, user_id: str) -> ScimEntitlement:
    """The person's row, locked: two events of one person are applied one after the other."""
    uow.session.execute(insert(ScimEntitlement).values(org_id=org_id, user_id=user_id, version=0)
                        .on_conflict_do_nothing())
    return uow.session.scalar(select(ScimEntitlement).where(
        ScimEntitlement.org_id == org_id, ScimEntitlement.user_id == user_id)
        .with_for_update().execution_options(populate_existing=True))


def _is_member(uow: UnitOfWork, program_id: str, user_id: str) -> bool:
    membership = find_membership(uow, program_id, user_id)
    return membership is not None and membership.state == MemberState.MEMBER


def _leave(uow: UnitOfWork, org_id: str, program_id: str, user_id: str) -> None:
    """The person leaves a program SCIM managed for them, as by an admin's removal (nothing if not a member)."""
    program = uow.session.get(Program, program_id)
    membership = find_membership(uow, program_id, user_id)
    if program is None or program.org_id != org_id or membership is None or \
            membership.state != MemberState.MEMBER:
        return
    lock_contracts(uow, [membership.contract_id])
    remove_memberships(uow, program, (Membership.program_id == program.id) & (Membership.user_id == user_id)
                       & (Membership.state == MemberState.MEMBER), RemovalReason.ADMIN_REMOVED)


def _join(uow: UnitOfWork, payload: dict, wanted: dict) -> AppError | None:
    """Join in a savepoint: a refusal undoes only this join. The refusal, else None."""
    person = {"email": storable(payload["email"]), "full_name": storable(payload.get("full_name"))}
    try:
        with uow.session.begin_nested():
            join_program(uow, payload["org_id"], wanted["program_id"], payload["user_id"], wanted["contract_id"],
                         None, person)
    except AppError as exc:
        return exc
    return None


def _refused(uow: UnitOfWork, payload: dict, wanted: dict, exc: AppError) -> None:
    log.warning("scim: %s does not join %s: %s", payload["user_id"], wanted["program_id"], exc.code)
    uow.publish(MEMBER_JOIN_REFUSED, {
        "org_id": payload["org_id"], "program_id": wanted["program_id"], "user_id": payload["user_id"],
        "email": storable(payload["email"]), "full_name": storable(payload.get("full_name")),
        "contract_id": wanted["contract_id"], "code": str(exc.code), "message": storable(exc.message)[:500],
        "via": VIA, "version": payload["version"]}, org_id=payload["org_id"])


def apply_entitlements(uow: UnitOfWork, payload: dict) -> dict:
    """Converge the person's memberships in the organization to the state of one event. Answers what was done
    (for logs and tests): {"applied": bool, "joined", "left", "refused": [program ids], "removed": int}."""
    org_id, user_id = payload["org_id"], payload["user_id"]
    done = {"applied": False, "joined": [], "left": [], "refused": [], "removed": 0}
    row = _state_row(uow, org_id, user_id)
    if payload["version"] <= row.version:
        log.info("scim: entitlements v%s of %s in %s ignored (v%s applied)", payload["version"], user_id, org_id,
                 row.version)
        return done
    done["applied"] = True
    desired = {p["program_id"]: p for p in payload["programs"] if parse_uuid(p["program_id"])}
    managed, refused = set(row.managed or ()), set()
    if not payload["active"]:
        done["removed"] = remove_person(uow, org_id, user_id, RemovalReason.DEPROVISIONED,
                                        notify=payload.get("notify_exit", True) is not False)["removed"]
        managed = set()
    else:
        for program_id in sorted(managed - set(desired)):
            _leave(uow, org_id, program_id, user_id)
            done["left"].append(program_id)
        managed &= set(desired)
        for program_id, wanted in sorted(desired.items()):
            if _is_member(uow, program_id, user_id):
                managed.add(program_id)  # there already (an invitation SCIM caused, an admin): SCIM manages it now
            elif payload["verified"]:
                refusal = _join(uow, payload, wanted)
                if refusal is None:
                    managed.add(program_id)
                    done["joined"].append(program_id)
                else:
                    refused.add(program_id)
                    _refused(uow, payload, wanted, refusal)
            # an unverified account is invited by invitations (the trust rule); it joins when it accepts
    row = _state_row(uow, org_id, user_id)  # removals and joins expire what the session held
    row.version = payload["version"]
    row.managed = sorted(managed)
    row.refused = sorted(refused)
    row.updated_at = now()
    uow.session.flush()
    done["refused"] = sorted(refused)
    return done
