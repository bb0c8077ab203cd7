"""Recording emails to send (one delivery each), the funnel's reminder, and
the retention purge. The sender (`sender.py`) moves deliveries on from QUEUED."""
import json
from itertools import groupby

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from contracts.errors import not_found
from contracts.messaging import REMINDER_REQUESTED, DeliveryState, Preset
from servicekit.bulk import insert_rows
from servicekit.db import UnitOfWork
from servicekit.models import normalize_email
from services.messaging import audience as audiences
from services.messaging import emails, render
from services.messaging.commands import quotas
from services.messaging.emails import Email
from services.messaging.models import Preference, Program
from services.messaging.settings import MessagingSettings
from services.messaging.text import NAME_COLUMN, single_line, storable

DELIVERY_COLUMNS = {"recipient": "text", "org_id": "text", "user_id": "text", "full_name": "text", "context": "jsonb",
                    "state": "text"}
PURGE_BATCH = 5_000


def opted_out(session: Session, addresses: set[str], category: str) -> set[str]:
    """Which of these (normalized) addresses turned this category of email off."""
    column = render.OPT_OUT_COLUMN.get(category)
    if column is None or not addresses:
        return set()  # account emails and invitations are always sent
    opted_in = getattr(Preference, column)  # (not `getattr(...).is_`: the broker-user scan reads that as an RPC)
    return set(session.scalars(select(Preference.email).where(Preference.email.in_(addresses),
                                                              opted_in.is_(False))))


def queue_email(uow: UnitOfWork, source_key: str, email: Email) -> str | None:
    """Record one email to send. Returns its state, None if a duplicate (or no address)."""
    if not email.email:
        return None
    return queue_emails(uow, source_key, [email]).get(normalize_email(email.email))


def queue_emails(uow: UnitOfWork, source_key: str, batch: list[Email]) -> dict[str, str]:
    """Record emails to send. The unique (source_key, recipient, template)
    makes a redelivered event a no-op. Returns recipient -> state of the ones
    recorded now (SUPPRESSED for the opted out)."""
    recorded = {}
    for template, group in groupby(sorted((e for e in batch if e.email), key=lambda e: e.template),
                                   key=lambda e: e.template):
        recorded.update(_queue_one_template(uow, source_key, template, list(group)))
    return recorded


def _queue_one_template(uow: UnitOfWork, source_key: str, template: str, batch: list[Email]) -> dict[str, str]:
    category = render.TEMPLATES[template].category
    rows = {}
    for e in batch:
        recipient = normalize_email(e.email)
        name = single_line(e.full_name, NAME_COLUMN)
        rows[recipient] = {
            "recipient": recipient, "org_id": e.org_id, "user_id": e.user_id, "full_name": name or None,
            "context": json.dumps(storable({"full_name": name or recipient, **e.context}))}
    suppressed = opted_out(uow.session, set(rows), category)
    for recipient, row in rows.items():
        row["state"] = DeliveryState.SUPPRESSED if recipient in suppressed else DeliveryState.QUEUED
    return dict(insert_rows(uow.session, "deliveries", DELIVERY_COLUMNS, list(rows.values()),
                            constants={"source_key": ("text", source_key[:100]), "template": ("text", template),
                                       "category": ("text", category)},
                            conflict="ON CONFLICT ON CONSTRAINT deliveries_once DO NOTHING",
                            returning="recipient, state").all())


def remind_enroll(uow: UnitOfWork, settings: MessagingSettings, org_id: str, program_id: str,
                  request_id: str) -> dict:
    """Funnel quick action: members of the program with no enrollment. A
    repeated request (same request id) queues nothing and counts nothing."""
    program = uow.session.get(Program, program_id)
    if program is None or program.org_id != org_id or program.removed:
        raise not_found("program")
    query = audiences.build_query(uow.session, org_id, {"preset": Preset.JOINED_NOT_ENROLLED,
                                                        "filters": {"program_ids": [program_id]}}, None)
    people = uow.session.execute(audiences.recipients(query)).all()
    states = queue_emails(uow, f"remind:{request_id}", [
        emails.enroll_reminder(org_id, person, program.name, program.join_url) for person in people])
    queued = sum(1 for state in states.values() if state == DeliveryState.QUEUED)
    if states:
        quotas.use(uow, settings, org_id, "reminders_per_program_per_day", 1, program_id=program_id)
        quotas.use(uow, settings, org_id, "recipients_per_day", len(states))
    result = {"recipients": len(states), "queued": queued, "suppressed": len(states) - queued}
    uow.publish(REMINDER_REQUESTED, {"org_id": org_id, "program_id": program_id, "program_name": program.name,
                                     **result}, org_id=org_id)  # the audit log's
    return result


def purge_old_deliveries(session: Session, days: int) -> int:
    """Delete final deliveries older than the retention period, a batch at a
    time (safe with replicas: SKIP LOCKED). An admin message's deliveries go
    only once its counts are kept on the message. Returns how many went."""
    return session.execute(text(
        "DELETE FROM deliveries WHERE id IN (SELECT d.id FROM deliveries d "
        "LEFT JOIN messages m ON m.id = d.message_id "
        "WHERE d.created_at < now() - make_interval(days => :days) "
        f"AND d.state IN ('{DeliveryState.SENT}', '{DeliveryState.FAILED}', '{DeliveryState.SUPPRESSED}') "
        "AND (d.message_id IS NULL OR m.final_counts IS NOT NULL) "
        f"LIMIT {PURGE_BATCH} FOR UPDATE OF d SKIP LOCKED)"), {"days": days}).rowcount
