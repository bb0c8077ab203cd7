"""One function per event messaging consumes: keep the projection and queue
the system emails the event asks for (`emails.py` chooses and fills them)."""
from contracts.envelope import Envelope
from servicekit.db import UnitOfWork
from services.messaging import emails, queries
from services.messaging.commands import projection
from services.messaging.commands.deliveries import queue_email, queue_emails

# ---- identity


def on_org_created(uow: UnitOfWork, event: Envelope) -> None:
    projection.upsert_org(uow, event.payload["org_id"], event.payload)


def on_org_updated(uow: UnitOfWork, event: Envelope) -> None:
    projection.upsert_org(uow, event.payload["org_id"], event.payload["settings"])


def on_profile_updated(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    projection.person_seen(uow, p["org_id"], p["user_id"], p["email"], p["full_name"])


def on_admin_granted(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    projection.person_seen(uow, p["org_id"], p["user_id"], p["email"], p["full_name"])


def on_verification_requested(uow: UnitOfWork, event: Envelope) -> None:
    """Account emails are never suppressed."""
    queue_email(uow, event.id, emails.verification(event.payload, event.org_id))


def on_password_reset_requested(uow: UnitOfWork, event: Envelope) -> None:
    queue_email(uow, event.id, emails.password_reset(event.payload, event.org_id))


# ---- programs


def on_program_created(uow: UnitOfWork, event: Envelope) -> None:
    projection.upsert_program(uow, event.payload)


def on_program_updated(uow: UnitOfWork, event: Envelope) -> None:
    projection.upsert_program(uow, event.payload)


def on_program_removed(uow: UnitOfWork, event: Envelope) -> None:
    # Members get their exit email from member.removed (reason PROGRAM_REMOVED).
    projection.upsert_program(uow, event.payload, removed=True)


def on_member_joined(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    projection.person_seen(uow, p["org_id"], p["user_id"], p["email"], p["full_name"])
    projection.set_membership(uow, p, active=True)
    queue_email(uow, event.id, emails.program_welcome(p, queries.program_url(uow, p["program_id"])))


def on_member_removed(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    projection.set_membership(uow, p, active=False)
    if p.get("notify", True):  # false: a SCIM deprovisioning the organization wants no email for (docs/scim.md)
        queue_email(uow, event.id, emails.program_exit(p))


def on_enrollment_created(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    projection.person_seen(uow, p["org_id"], p["user_id"], p.get("email"), p.get("full_name"))
    projection.upsert_enrollment(uow, p)
    queue_email(uow, event.id, emails.enrollment_welcome(p, queries.program_name(uow, p["program_id"]),
                                                         queries.program_url(uow, p["program_id"])))


# ---- invitations


def on_invitation_created(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    projection.person_seen(uow, p["org_id"], p.get("user_id"), p["email"], p.get("full_name"))
    projection.upsert_invitation(uow, p)
    if p.get("send_email") and p.get("accept_url"):
        queue_email(uow, event.id, emails.invitation(p, p))


def on_invitations_created(uow: UnitOfWork, event: Envelope) -> None:
    """A CSV import's batch: the same as on_invitation_created, set-based."""
    p, items = event.payload, event.payload["invitations"]
    projection.people_seen(uow, p["org_id"], items)
    projection.upsert_invitations(uow, p, items)
    if p["send_email"]:
        queue_emails(uow, event.id, [emails.invitation(p, i) for i in items if i.get("accept_url")])


def on_invitation_resent(uow: UnitOfWork, event: Envelope) -> None:
    queue_email(uow, event.id, emails.invitation(event.payload, event.payload))


def on_invitation_closed(uow: UnitOfWork, event: Envelope) -> None:
    """Accepted, revoked or expired: no longer pending."""
    projection.close_invitation(uow, event.payload["invitation_id"])


# ---- reporting


def on_report_ready(uow: UnitOfWork, event: Envelope) -> None:
    """A report link for an admin; its URL is erased from the delivery once sent (render.SECRET_LINK_FIELDS)."""
    queue_email(uow, event.id, emails.report_link(event.payload))
