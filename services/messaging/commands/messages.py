"""Admin messages: drafts (create, change, discard), sending (one
INSERT … SELECT of its deliveries) and completion (announced once)."""
from sqlalchemy import case, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert

from contracts.errors import AppError, ErrorCode
from contracts.messaging import (
    MESSAGE_DISCARDED,
    MESSAGE_DRAFTED,
    MESSAGE_SEND_REQUESTED,
    MESSAGE_SENT,
    MESSAGE_UPDATED,
    DeliveryState,
    EmailCategory,
    MessageState,
)
from contracts.registry import Event
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from servicekit.models import normalize_email
from services.messaging import audience as audiences
from services.messaging.commands import quotas
from services.messaging.models import Delivery, Message, Preference
from services.messaging.queries import get_message, message_counts
from services.messaging.settings import MessagingSettings
from services.messaging.text import NAME_COLUMN, single_line


def announce(uow: UnitOfWork, event: Event, message: Message, changes: dict | None = None,
             recipients: int | None = None) -> None:
    """An admin's action on a message, for the audit log."""
    uow.publish(event, {"message_id": message.id, "org_id": message.org_id, "subject": message.subject,
                        "audience": message.audience or {}, "program_ids": message.program_scope,
                        "changes": changes, "recipients": recipients}, org_id=message.org_id)


def create_message(uow: UnitOfWork, org_id: str, author: dict, program_scope: list[str] | None,
                   data: dict, activity=None) -> Message:
    Message.check_text(data)
    audiences.checked(uow.session, org_id, data["audience"], program_scope, activity)
    message = Message(org_id=org_id, created_by=author["user_id"], author_email=normalize_email(author["email"]),
                      author_name=single_line(author["full_name"], NAME_COLUMN), program_scope=program_scope,
                      **{k: data.get(k) for k in Message.EDITABLE})
    uow.session.add(message)
    uow.session.flush()
    announce(uow, MESSAGE_DRAFTED, message)
    return message


def update_message(uow: UnitOfWork, org_id: str, message_id: str, viewer: dict, changes: dict,
                   activity=None) -> Message:
    message = get_message(uow, org_id, message_id, viewer)
    message.require_draft("changed")
    Message.check_text(changes)
    if "audience" in changes:
        audiences.checked(uow.session, org_id, changes["audience"], viewer.get("program_scope"), activity)
    before = {key: getattr(message, key) for key in Message.EDITABLE}
    message.change(changes, utcnow())
    uow.session.flush()
    changed = {key: {"before": before[key], "after": getattr(message, key)} for key in Message.EDITABLE
               if getattr(message, key) != before[key]}
    announce(uow, MESSAGE_UPDATED, message, changed or None)
    return message


def discard_message(uow: UnitOfWork, org_id: str, message_id: str, viewer: dict) -> None:
    message = get_message(uow, org_id, message_id, viewer)
    message.discard(utcnow())
    announce(uow, MESSAGE_DISCARDED, message)


def send_message(uow: UnitOfWork, settings: MessagingSettings, org_id: str, message_id: str, viewer: dict,
                 accept_terms: bool, activity=None) -> Message:
    if accept_terms is not True:
        raise AppError(ErrorCode.TERMS_NOT_ACCEPTED, "accept the terms of use and the privacy policy to send",
                       {"accept_terms": ["must be true"]})
    message = get_message(uow, org_id, message_id, viewer)
    # Two concurrent sends: the second waits here and then sees SENDING (fresh values, not the cached draft).
    locked = uow.session.execute(select(Message).where(Message.id == message.id).with_for_update()
                                 .execution_options(populate_existing=True)).scalar_one()
    locked.start_sending(utcnow())
    # The caller's scope now, not the one the draft was written under (an admin may have lost programs).
    query = audiences.checked(uow.session, org_id, locked.audience, viewer.get("program_scope"), activity)
    people = audiences.recipients(query).subquery()
    state = case((Preference.program_messages.is_(False), DeliveryState.SUPPRESSED.value),
                 else_=DeliveryState.QUEUED.value)
    rows = (select(literal(org_id), literal(f"message:{locked.id}"), literal("admin_message"),
                   literal(EmailCategory.PROGRAM.value),
                   literal(locked.id), people.c.email, people.c.user_id, people.c.full_name,
                   literal({}, JSONB), state)
            .select_from(people.outerjoin(Preference, Preference.email == people.c.email)))
    # One INSERT ... SELECT, however large the audience; the sender loop paces the actual sending.
    stmt = insert(Delivery).from_select(
        ["org_id", "source_key", "template", "category", "message_id", "recipient", "user_id", "full_name",
         "context", "state"], rows).on_conflict_do_nothing(constraint="deliveries_once")
    recipients = uow.session.execute(stmt).rowcount
    if not recipients:
        raise AppError(ErrorCode.RULE_VIOLATION, "nobody is in this audience", {"audience": ["is empty"]})
    # Within the organization's quotas, or nothing is queued (the refusal rolls the whole send back).
    quotas.use(uow, settings, org_id, "messages_per_day", 1)
    quotas.use(uow, settings, org_id, "recipients_per_day", recipients)
    uow.session.flush()
    announce(uow, MESSAGE_SEND_REQUESTED, locked, recipients=recipients)
    complete_messages(uow, {locked.id})
    return locked


def message_sent_payload(message_id: str, org_id: str, counts: dict) -> dict:
    return {"message_id": message_id, "org_id": org_id, "recipients": counts["recipients"], "sent": counts["sent"],
            "suppressed": counts["suppressed"], "failed": counts["failed"]}


def complete_messages(uow: UnitOfWork, message_ids) -> None:
    """A message whose deliveries are all final is SENT, with its counts kept; announced once."""
    for message_id in sorted({str(m) for m in message_ids}):
        counts = message_counts(uow.session, message_id)
        if counts["queued"]:
            continue
        sending = (Message.id == message_id, Message.state == MessageState.SENDING)
        done = uow.session.execute(update(Message).where(*sending)
                                   .values(state=MessageState.SENT, completed_at=utcnow(), final_counts=counts)
                                   .returning(Message.org_id)).first()
        if done is not None:
            uow.publish(MESSAGE_SENT, message_sent_payload(message_id, done.org_id, counts), done.org_id)
