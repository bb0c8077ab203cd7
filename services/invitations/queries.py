"""invitations' reads and the views (dicts) its RPCs answer with."""
from sqlalchemy import select

from contracts.errors import AppError, ErrorCode, not_found
from contracts.invitations import InvitationState
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from servicekit.models import normalize_email, require_uuid
from servicekit.pagination import keyset_page
from services.invitations import csvfile
from services.invitations.models import ImportJob, Invitation, RejectedRow, hash_token
from services.invitations.peers import Peers
from services.invitations.settings import InvitationSettings


def view(inv: Invitation) -> dict:
    return {name: getattr(inv, name) for name in (
        "id", "org_id", "program_id", "contract_id", "user_id", "email", "full_name", "external_id", "state",
        "send_email", "invited_by", "import_id", "created_at", "expires_at", "last_sent_at", "send_count",
        "closed_at", "close_reason")}


# ---------------------------------------------------------------- invitations


def get_invitation(uow: UnitOfWork, org_id: str, invitation_id: str, lock: bool = False) -> Invitation:
    query = select(Invitation).where(Invitation.id == require_uuid(invitation_id, "invitation"),
                                     Invitation.org_id == org_id)
    inv = uow.session.scalar(query.with_for_update() if lock else query)
    if inv is None:
        raise not_found("invitation")
    return inv


def locate_invitation(uow: UnitOfWork, invitation_id: str) -> dict:
    inv = uow.session.get(Invitation, require_uuid(invitation_id, "invitation"))
    if inv is None:
        raise not_found("invitation")
    return {"id": inv.id, "org_id": inv.org_id, "program_id": inv.program_id}


def pending_for(uow: UnitOfWork, program_id: str, email: str, lock: bool = False) -> Invitation | None:
    query = select(Invitation).where(Invitation.program_id == program_id, Invitation.state == InvitationState.PENDING,
                                     Invitation.email == normalize_email(email))
    return uow.session.scalar(query.with_for_update() if lock else query)


def list_invitations(uow: UnitOfWork, org_id: str, program_id: str, state: str | None, limit: int,
                     cursor: str | None) -> dict:
    query = select(Invitation).where(Invitation.org_id == org_id, Invitation.program_id == program_id)
    if state:
        query = query.where(Invitation.state == state)
    page = keyset_page(uow.session, query, [Invitation.created_at, Invitation.id], cursor, limit, scalars=True)
    return {"items": [view(inv) for inv in page.items], "next_cursor": page.next_cursor}


def invitation_for_token(uow: UnitOfWork, raw_token: str, lock: bool = False) -> Invitation:
    """The invitation of a link; a used, revoked or expired one is a clear error."""
    query = select(Invitation).where(Invitation.token_hash == hash_token(raw_token or ""))
    inv = uow.session.scalar(query.with_for_update() if lock else query)
    if inv is None:
        raise AppError(ErrorCode.NOT_FOUND, "this invitation link is not valid (a resend replaces older links)")
    inv.require_usable(utcnow())
    return inv


def invitation_page(uow: UnitOfWork, peers: Peers, token: str) -> dict:
    """What the person holding the link may see: the program and the branding."""
    inv = invitation_for_token(uow, token)
    program = peers.any_program(inv.program_id)
    org = peers.organization(inv.org_id)
    return {"program_name": program["name"], "organization_name": org["name"],
            "brand_color": org.get("brand_color"), "logo_url": org.get("logo_url"),
            "banner_url": org.get("banner_url"), "custom_message": org.get("default_invitation_message"),
            "state": inv.state, "expires_at": inv.expires_at.isoformat()}


def preview(uow: UnitOfWork, peers: Peers, settings: InvitationSettings, org_id: str, learner: dict) -> dict:
    """What will be created and the email that will be sent (messaging renders
    the same subject and message), with warnings for what would be refused."""
    program = peers.program_with_contract(org_id, learner["program_id"], learner["contract_id"])
    contract = peers.contract(org_id, learner["contract_id"])
    org = peers.organization(org_id)
    warnings = []
    if pending_for(uow, program["id"], learner["email"]) is not None:
        warnings.append(ErrorCode.DUPLICATE_INVITATION)
    user = peers.user_by_email(learner["email"])
    if user and peers.is_member(program["id"], user["id"]):
        warnings.append(ErrorCode.ALREADY_MEMBER)
    message = org.get("default_invitation_message")
    subject = f"{org['name']} invites you to {program['name']}"
    body = [f"Hello {learner['full_name']},", "", f"{org['name']} invites you to join {program['name']}."]
    if message:
        body += ["", message]
    body += ["", f"The invitation is valid for {settings.ttl.days} days."]
    return {
        "learner": {"full_name": learner["full_name"], "email": normalize_email(learner["email"]),
                    "external_id": learner.get("external_id")},
        "program": {"id": program["id"], "name": program["name"], "slug": program.get("slug")},
        "contract": {"id": contract["id"], "name": contract["name"], "licenses_free": contract.get("licenses_free")},
        "organization": {"id": org["id"], "name": org["name"], "brand_color": org.get("brand_color"),
                         "logo_url": org.get("logo_url")},
        "email": {"subject": subject, "text": "\n".join(body), "custom_message": message},
        "warnings": warnings,
    }


# ---------------------------------------------------------------- imports


def import_view(job: ImportJob) -> dict:
    return {"import_id": job.id, "program_id": job.program_id, "contract_id": job.contract_id,
            "filename": job.filename, "status": job.status, "error": job.error, "total_rows": job.total_rows,
            "processed_rows": job.processed_rows, "created": job.created, "duplicates": job.duplicates,
            "invalid": job.invalid, "created_at": job.created_at, "completed_at": job.completed_at}


def get_import(uow: UnitOfWork, org_id: str, import_id: str) -> ImportJob:
    job = uow.session.get(ImportJob, require_uuid(import_id, "import"))
    if job is None or job.org_id != org_id:
        raise not_found("import")
    return job


def locate_import(uow: UnitOfWork, import_id: str) -> dict:
    row = uow.session.execute(select(ImportJob.id, ImportJob.org_id, ImportJob.program_id)
                              .where(ImportJob.id == require_uuid(import_id, "import"))).first()
    if row is None:
        raise not_found("import")
    return {"id": row.id, "org_id": row.org_id, "program_id": row.program_id}


def rejected_rows(uow: UnitOfWork, org_id: str, import_id: str) -> str:
    job = get_import(uow, org_id, import_id)
    rows = uow.session.execute(
        select(RejectedRow.row_number, RejectedRow.full_name, RejectedRow.email, RejectedRow.external_id,
               RejectedRow.reason).where(RejectedRow.import_id == job.id).order_by(RejectedRow.row_number))
    return csvfile.rejected_csv(rows)
