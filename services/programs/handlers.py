"""programs' consumers of other services' events, one function per event
(the `@handle_event` entrypoints in service.py call exactly one of them)."""
from contracts.programs import MemberState
from servicekit.bulk import insert_rows
from servicekit.db import UnitOfWork
from servicekit.models import new_id, normalize_email
from services.programs.boundary import storable
from services.programs.commands import scim
from services.programs.commands.memberships import remember_people, remember_person
from services.programs.models import Program
from services.programs.queries import find_membership, now

INVITED_COLUMNS = {"id": "uuid", "user_id": "text", "email": "text", "full_name": "text", "sort_name": "text",
                   "invitation_id": "text"}


def _storable_person(item: dict) -> dict:
    """Names and emails as PostgreSQL can store them: an event is kept whole,
    never failed (and parked with its whole batch) for one bad name."""
    return {**item, "email": storable(item.get("email")), "full_name": storable(item.get("full_name"))}


def on_invitation_created(uow: UnitOfWork, payload: dict) -> None:
    on_invitations_created(uow, {**payload, "invitations": [payload]})


def on_invitations_created(uow: UnitOfWork, payload: dict) -> None:
    """Invited people appear as INVITED in the members list (unless already
    members). `payload`: org, program and contract, and the invitations,
    each with its invitation_id, user_id, email and full_name."""
    program = uow.session.get(Program, payload["program_id"])
    if program is None or program.org_id != payload["org_id"] or program.removed_at is not None:
        return
    items = {str(i["user_id"]): _storable_person(i) for i in payload["invitations"]}  # one row per person
    remember_people(uow, program.org_id, list(items.values()))
    invited = []
    for user_id in sorted(items):  # a stable order: no deadlocks between batches
        item = items[user_id]
        name = (item.get("full_name") or item.get("email") or "").strip()
        invited.append({"id": new_id(), "user_id": user_id, "email": normalize_email(item.get("email") or "") or None,
                        "full_name": name or None, "sort_name": name.lower(),
                        "invitation_id": str(item["invitation_id"])})
    insert_rows(
        uow.session, "memberships", INVITED_COLUMNS, invited,
        constants={"org_id": ("uuid", program.org_id), "program_id": ("uuid", program.id),
                   "contract_id": ("uuid", payload.get("contract_id")), "state": ("text", MemberState.INVITED.value),
                   "invited_at": ("timestamptz", now())},
        conflict=f"ON CONFLICT (program_id, user_id) DO UPDATE SET state = '{MemberState.INVITED}', "
                 "email = EXCLUDED.email, "
                 "full_name = EXCLUDED.full_name, sort_name = EXCLUDED.sort_name, "
                 "contract_id = EXCLUDED.contract_id, invitation_id = EXCLUDED.invitation_id, "
                 f"invited_at = EXCLUDED.invited_at WHERE memberships.state <> '{MemberState.MEMBER}'")


def on_invitation_withdrawn(uow: UnitOfWork, payload: dict) -> None:
    """Revoked or expired: the INVITED row of that invitation goes away (a past
    member who was invited again goes back to DELETED_MEMBER)."""
    membership = find_membership(uow, payload["program_id"], payload["user_id"], lock=True)
    if membership is None or membership.org_id != payload["org_id"]:
        return
    if membership.withdraw_invitation(payload["invitation_id"]):
        uow.session.delete(membership)
    uow.session.flush()


def on_profile_updated(uow: UnitOfWork, payload: dict) -> None:
    """identity's profile of a person in an organization: the source of truth for names."""
    person = _storable_person(payload)
    remember_person(uow, payload["org_id"], payload["user_id"], person["email"], person["full_name"])


def on_scim_entitlements_changed(uow: UnitOfWork, payload: dict) -> None:
    """identity.scim.entitlements_changed.v1: the person's memberships converge to the state (a version
    applied once, never an older one after a newer: services/programs/commands/scim.py)."""
    scim.apply_entitlements(uow, payload)
