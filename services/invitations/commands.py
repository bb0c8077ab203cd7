"""invitations' commands: one function per command, over a unit of work, and
the payloads of the events they publish. What other services know (the
program, the person's account) is asked through `Peers`."""
from prometheus_client import Counter
from sqlalchemy import and_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from contracts import invitations as events
from contracts.errors import AppError, ErrorCode, not_found
from contracts.invitations import ImportStatus, InvitationState, RevokeReason
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from servicekit.models import new_id, normalize_email, parse_uuid
from services.invitations import csvfile
from services.invitations.models import ImportJob, Invitation, hash_token, new_token
from services.invitations.peers import Peers
from services.invitations.queries import get_invitation, invitation_for_token, pending_for
from services.invitations.settings import InvitationSettings

EXPIRED = Counter("learnadmin_invitations_expired_total", "Invitations expired by the expiry job")


# ---------------------------------------------------------------- event payloads


def new_invitation_values(settings: InvitationSettings, org_id, program_id, contract_id, person, send_email,
                          invited_by, raw_token, import_id=None, import_row=None) -> dict:
    """The columns of a new pending invitation (single or imported)."""
    created = utcnow()
    return {"id": new_id(), "org_id": org_id, "program_id": program_id, "contract_id": contract_id,
            "user_id": person["user_id"], "email": normalize_email(person["email"]),
            "full_name": person["full_name"], "external_id": person.get("external_id") or None,
            "state": InvitationState.PENDING,
            "token_hash": hash_token(raw_token), "send_email": send_email, "invited_by": invited_by,
            "import_id": import_id, "import_row": import_row, "created_at": created,
            "expires_at": created + settings.ttl, "last_sent_at": created if send_email else None,
            "send_count": 1 if send_email else 0}


def created_item(settings: InvitationSettings, values: dict, raw_token: str) -> dict:
    """One invitation as invitations.invitation(s).created.v1 tell it."""
    return {"invitation_id": values["id"], "user_id": values["user_id"], "email": values["email"],
            "full_name": values["full_name"], "external_id": values["external_id"],
            "accept_url": settings.accept_url(raw_token) if values["send_email"] else None,
            "expires_at": values["expires_at"].isoformat()}


def _created_payload(settings: InvitationSettings, values: dict, program_name: str, raw_token: str,
                     custom_message: str | None) -> dict:
    return {**created_item(settings, values, raw_token), "org_id": values["org_id"],
            "program_id": values["program_id"], "program_name": program_name, "contract_id": values["contract_id"],
            "send_email": values["send_email"], "custom_message": custom_message, "invited_by": values["invited_by"]}


def _resent_payload(settings: InvitationSettings, inv: Invitation, program_name: str, raw_token: str,
                    custom_message: str | None) -> dict:
    return {"invitation_id": inv.id, "org_id": inv.org_id, "program_id": inv.program_id,
            "program_name": program_name, "user_id": inv.user_id, "email": inv.email, "full_name": inv.full_name,
            "accept_url": settings.accept_url(raw_token), "custom_message": custom_message,
            "expires_at": inv.expires_at.isoformat()}


def _revoked_payload(row, reason: str) -> dict:
    return {"invitation_id": row.id, "org_id": row.org_id, "program_id": row.program_id, "user_id": row.user_id,
            "email": row.email, "reason": reason}


def _expired_payload(row) -> dict:
    return {"invitation_id": str(row.id), "org_id": str(row.org_id), "program_id": str(row.program_id),
            "user_id": str(row.user_id), "email": row.email}


def _accepted_payload(inv: Invitation, user_id: str) -> dict:
    return {"invitation_id": inv.id, "org_id": inv.org_id, "program_id": inv.program_id, "user_id": user_id,
            "email": inv.email, "accepted_at": inv.closed_at.isoformat()}


# ---------------------------------------------------------------- creating


def invite(uow: UnitOfWork, peers: Peers, settings: InvitationSettings, org_id: str, data: dict,
           invited_by: str | None) -> Invitation:
    """One invitation from the admin's form (already validated): to a contract
    of the program, for a person not invited yet and not a member."""
    program = peers.program_with_contract(org_id, data["program_id"], data["contract_id"])
    if pending_for(uow, program["id"], data["email"]) is not None:
        raise AppError(ErrorCode.DUPLICATE_INVITATION, "a pending invitation to this program exists for this "
                       "email", {"email": [data["email"]]})
    person = peers.ensure_person(org_id, {"email": data["email"], "full_name": data["full_name"],
                                          "external_id": data["external_id"]})
    if peers.is_member(program["id"], person["user_id"]):
        raise AppError(ErrorCode.ALREADY_MEMBER, "this person is already a member of the program")
    org = peers.organization(org_id)
    person = {**person, "full_name": data["full_name"]}  # the external id is the profile's (kept, or filled in)
    return create_invitation(uow, org_id, program, data["contract_id"], person, data["send_email"], invited_by,
                             org.get("default_invitation_message"), settings)


def create_invitation(uow: UnitOfWork, org_id: str, program: dict, contract_id: str, person: dict, send_email: bool,
                      invited_by: str | None, custom_message: str | None,
                      settings: InvitationSettings | None = None) -> Invitation:
    """One invitation; the database refuses a second pending one for the same
    program and email (concurrent requests included)."""
    settings = settings or InvitationSettings.from_env()
    raw = new_token()
    values = new_invitation_values(settings, org_id, program["id"], contract_id, person, send_email, invited_by, raw)
    inserted = uow.session.execute(
        pg_insert(Invitation).values(values).on_conflict_do_nothing().returning(Invitation.id)).scalar()
    if inserted is None:
        raise AppError(ErrorCode.DUPLICATE_INVITATION, "a pending invitation to this program exists for this email",
                       {"email": [values["email"]]})
    uow.publish(events.INVITATION_CREATED,
                _created_payload(settings, values, program["name"], raw, custom_message), org_id=org_id)
    return uow.session.get(Invitation, inserted)


def resend(uow: UnitOfWork, peers: Peers, settings: InvitationSettings, org_id: str,
           invitation_id: str) -> Invitation:
    inv = get_invitation(uow, org_id, invitation_id, lock=True)
    program = peers.program(org_id, inv.program_id)
    org = peers.organization(org_id)
    _renew(uow, settings, inv, program["name"], org.get("default_invitation_message"))
    return inv


def resend_pending(uow: UnitOfWork, peers: Peers, settings: InvitationSettings, org_id: str, program_id: str) -> int:
    """The funnel's quick action: resend every pending invitation of the program."""
    program = peers.program(org_id, program_id)
    message = peers.organization(org_id).get("default_invitation_message")
    count = 0
    query = (select(Invitation).where(Invitation.org_id == org_id, Invitation.program_id == program["id"],
                                      Invitation.state == InvitationState.PENDING).with_for_update(skip_locked=True))
    for inv in uow.session.scalars(query):
        _renew(uow, settings, inv, program["name"], message)
        count += 1
    return count


def _renew(uow: UnitOfWork, settings: InvitationSettings, inv: Invitation, program_name: str,
           custom_message: str | None) -> None:
    raw = new_token()
    inv.renew_link(hash_token(raw), utcnow(), settings.ttl)
    uow.session.flush()
    uow.publish(events.INVITATION_RESENT, _resent_payload(settings, inv, program_name, raw, custom_message),
                org_id=inv.org_id)


# ---------------------------------------------------------------- closing


def revoke(uow: UnitOfWork, org_id: str, invitation_ids: list[str], program_id: str | None = None) -> list[Invitation]:
    """Revoke pending invitations (admin action). Closed ones are refused."""
    invitations = []
    for invitation_id in invitation_ids:
        inv = get_invitation(uow, org_id, invitation_id, lock=True)
        if program_id and inv.program_id != program_id:
            raise not_found("invitation")
        inv.revoke(utcnow(), RevokeReason.ADMIN)
        invitations.append(inv)
    uow.session.flush()
    uow.publish_many(events.INVITATION_REVOKED, [(_revoked_payload(inv, RevokeReason.ADMIN), org_id)
                                          for inv in invitations])
    return invitations


def revoke_pending_of(uow: UnitOfWork, program_id: str, reason: RevokeReason, user_id: str | None = None) -> int:
    """A member or a program was removed: their pending invitations go too."""
    condition = and_(Invitation.program_id == program_id, Invitation.state == InvitationState.PENDING)
    if user_id:
        condition = and_(condition, Invitation.user_id == user_id)
    rows = uow.session.execute(
        update(Invitation).where(condition).values(state=InvitationState.REVOKED, closed_at=utcnow(),
                                                  close_reason=reason)
        .returning(Invitation.id, Invitation.org_id, Invitation.program_id, Invitation.user_id, Invitation.email)
    ).all()
    uow.publish_many(events.INVITATION_REVOKED, [(_revoked_payload(r, reason), r.org_id) for r in rows])
    return len(rows)


def revoke_pending_of_person(uow: UnitOfWork, org_id: str, user_id: str, program_id: str | None = None) -> int:
    """A person the organization's identity provider deprovisioned, or removed from a group mapped to a program
    (SCIM, docs/scim.md): their pending invitations of the organization (or of that program) are revoked, so
    a link already emailed cannot make them join afterwards. Idempotent."""
    if parse_uuid(org_id) is None or parse_uuid(user_id) is None or (program_id and parse_uuid(program_id) is None):
        return 0
    condition = and_(Invitation.org_id == org_id, Invitation.user_id == user_id,
                     Invitation.state == InvitationState.PENDING)
    if program_id:
        condition = and_(condition, Invitation.program_id == program_id)
    rows = uow.session.execute(
        update(Invitation).where(condition).values(state=InvitationState.REVOKED, closed_at=utcnow(),
                                                  close_reason=RevokeReason.MEMBER_REMOVED)
        .returning(Invitation.id, Invitation.org_id, Invitation.program_id, Invitation.user_id, Invitation.email)
    ).all()
    uow.publish_many(events.INVITATION_REVOKED, [(_revoked_payload(r, RevokeReason.MEMBER_REMOVED), str(r.org_id))
                                                 for r in rows])
    return len(rows)


def expire_due(uow: UnitOfWork, limit: int = 500) -> int:
    """Pending invitations past their expiry become EXPIRED. Rows are claimed
    with SKIP LOCKED, so replicas running this at once never expire one twice."""
    rows = uow.session.execute(text(
        "UPDATE invitations SET state = :expired, closed_at = now(), close_reason = :expired "
        "WHERE id IN (SELECT id FROM invitations WHERE state = :pending AND expires_at <= now() "
        "             ORDER BY expires_at LIMIT :limit FOR UPDATE SKIP LOCKED) "
        "RETURNING id, org_id, program_id, user_id, email"),
        {"limit": limit, "expired": InvitationState.EXPIRED, "pending": InvitationState.PENDING}).all()
    uow.publish_many(events.INVITATION_EXPIRED, [(_expired_payload(r), str(r.org_id)) for r in rows])
    EXPIRED.inc(len(rows))
    return len(rows)


def expire_all_due(uow: UnitOfWork, settings: InvitationSettings) -> None:
    """The expiry job: batch after batch, each committed, until none is left."""
    while expire_due(uow, settings.expiry_batch) == settings.expiry_batch:
        uow.commit()


# ---------------------------------------------------------------- joining


def accept(uow: UnitOfWork, peers: Peers, token: str, full_name: str | None = None, password: str | None = None,
           signed_in_user_id: str | None = None, client: str | None = None) -> dict:
    """The holder of a link joins. The row lock is held until the join is
    recorded: concurrent accepts of one link queue up and the later ones find it used.
    For an account that has a password, identity wants its owner: signed in
    (`signed_in_user_id`) or giving the password (throttled per `client`)."""
    inv = invitation_for_token(uow, token, lock=True)
    user = peers.account_for_invitation(inv.email, full_name or inv.full_name, password, signed_in_user_id, client)
    membership = peers.join_program(inv.org_id, inv.program_id, user["id"], inv.contract_id, inv.id, inv.email,
                                    user.get("full_name") or inv.full_name)
    _mark_accepted(uow, inv, user["id"])
    tokens = peers.issue_tokens(user["id"])
    return {**tokens, "program_id": inv.program_id, "invitation_id": inv.id, "membership": membership}


def join_by_program(uow: UnitOfWork, peers: Peers, org_id: str, program_id: str, user_id: str, email: str) -> dict:
    """A signed-in person with a verified email joins by the program URL."""
    inv = pending_for(uow, program_id, email, lock=True)
    if inv is None or inv.org_id != org_id:
        raise AppError(ErrorCode.NOT_INVITED, "there is no pending invitation to this program for your email")
    inv.require_usable(utcnow())
    membership = peers.join_program(org_id, program_id, user_id, inv.contract_id, inv.id, inv.email, inv.full_name)
    _mark_accepted(uow, inv, user_id)
    return {"program_id": program_id, "invitation_id": inv.id, "membership": membership}


def _mark_accepted(uow: UnitOfWork, inv: Invitation, user_id: str) -> None:
    inv.accept(utcnow())
    uow.session.flush()
    uow.publish(events.INVITATION_ACCEPTED, _accepted_payload(inv, user_id), org_id=inv.org_id)


# ---------------------------------------------------------------- bulk import


def start_import(uow: UnitOfWork, org_id: str, program: dict, contract_id: str, send_email: bool,
                 invited_by: str | None, custom_message: str | None, filename: str | None,
                 content: bytes) -> ImportJob:
    """Check the file as a whole (encoding, headers, CSV) and record the job;
    the rows are processed by the import worker (services/invitations/importer.py)."""
    total = csvfile.count_rows(csvfile.decode(content))
    if total == 0:
        raise csvfile.bad_file("the file has a header row but no rows to import")
    job = ImportJob(org_id=org_id, program_id=program["id"], program_name=program["name"], contract_id=contract_id,
                    send_email=send_email, invited_by=invited_by, custom_message=custom_message,
                    filename=csvfile.printable(filename or "")[:255] or None, content=content, size_bytes=len(content),
                    status=ImportStatus.PENDING, total_rows=total, processed_rows=0, next_record=2, created=0,
                    duplicates=0, invalid=0, attempts=0)
    uow.session.add(job)
    uow.session.flush()
    uow.publish(events.IMPORT_STARTED, {
        "import_id": job.id, "org_id": org_id, "program_id": job.program_id, "program_name": job.program_name,
        "contract_id": job.contract_id, "filename": job.filename, "size_bytes": job.size_bytes, "total_rows": total,
        "send_email": send_email, "invited_by": invited_by}, org_id=org_id)
    return job


def upload_import(uow: UnitOfWork, peers: Peers, org_id: str, program_id: str, contract_id: str, send_email: bool,
                  content: bytes, filename: str | None, invited_by: str | None) -> ImportJob:
    """An admin's upload: to a contract of the program, with the org's message."""
    program = peers.program_with_contract(org_id, program_id, contract_id)
    org = peers.organization(org_id)
    return start_import(uow, org_id, program, contract_id, send_email, invited_by,
                        org.get("default_invitation_message"), filename, content)
