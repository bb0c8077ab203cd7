"""messaging's reads: messages and their views, audience counts, previews,
preferences, and what the projection knows of a program."""
from email.header import decode_header, make_header

from sqlalchemy import func, select

from contracts.errors import not_found
from contracts.messaging import MessageState
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from servicekit.models import normalize_email, require_uuid
from servicekit.pagination import Page, keyset_page
from services.messaging import audience as audiences
from services.messaging import compose, render
from services.messaging import unsubscribe as tokens
from services.messaging.models import (
    Delivery,
    Message,
    OrgQuota,
    Preference,
    Program,
    QuotaUsage,
)
from services.messaging.settings import MessagingSettings

PREVIEW_HEADERS = ("From", "To", "Reply-To", "Subject", "List-Unsubscribe", "List-Unsubscribe-Post")


def find_message(uow: UnitOfWork, message_id: str) -> Message:
    message = uow.session.get(Message, require_uuid(message_id, "message"))
    if message is None or message.state == MessageState.DISCARDED:
        raise not_found("message")
    return message


def locate_message(uow: UnitOfWork, message_id: str) -> dict:
    message = find_message(uow, message_id)
    return {"id": message.id, "org_id": message.org_id, "created_by": message.created_by}


def get_message(uow: UnitOfWork, org_id: str, message_id: str, viewer: dict) -> Message:
    """Org admins see their organization's messages; program admins their own."""
    message = find_message(uow, message_id)
    if not message.visible_to(org_id, viewer):
        raise not_found("message")
    return message


def list_messages(uow: UnitOfWork, org_id: str, viewer: dict, limit: int = 50, cursor: str | None = None) -> Page:
    """Newest first, by pages (the kit's keyset cursor)."""
    query = select(Message).where(Message.org_id == org_id, Message.state != MessageState.DISCARDED)
    if viewer.get("program_scope") is not None:
        query = query.where(Message.created_by == viewer.get("user_id"))
    return keyset_page(uow.session, query, [Message.created_at, Message.id], cursor, limit, descending=True,
                       scalars=True)


def message_counts(session, message_id: str) -> dict:
    by_state = dict(session.execute(select(Delivery.state, func.count()).where(Delivery.message_id == message_id)
                                    .group_by(Delivery.state)).all())
    return Message.counts(by_state)


def message_view(uow: UnitOfWork, message: Message) -> dict:
    view = {k: getattr(message, k) for k in (*Message.EDITABLE, "id", "org_id", "state", "created_by", "created_at",
                                             "updated_at", "sent_at")}
    if message.state == MessageState.DRAFT:
        view["counts"] = None
    else:
        view["counts"] = message.final_counts or message_counts(uow.session, message.id)
    return view


def count_audience(uow: UnitOfWork, org_id: str, audience: dict, program_scope: list[str] | None,
                   activity=None) -> int:
    return audiences.count(uow.session, audiences.checked(uow.session, org_id, audience, program_scope, activity))


def preview_message(uow: UnitOfWork, settings: MessagingSettings, org_id: str, message_id: str,
                    viewer: dict, activity=None) -> dict:
    """What a recipient receives: the first person of the audience (or the author)."""
    message = get_message(uow, org_id, message_id, viewer)
    query = audiences.build_query(uow.session, org_id, message.audience, viewer.get("program_scope"), activity)
    first = uow.session.execute(audiences.recipients(query).limit(1)).first()
    email, name = (first.email, first.full_name) if first else (message.author_email, message.author_name)
    rendered, mime = compose.message_mime(settings, message, compose.org_brand(uow.session, org_id), email, name)
    headers = {k: str(make_header(decode_header(mime[k]))) for k in PREVIEW_HEADERS if mime[k]}
    return {"subject": rendered.subject, "html": rendered.html, "text": rendered.text, "headers": headers}


def get_preferences(uow: UnitOfWork, email: str) -> dict:
    return Preference.view(uow.session.get(Preference, normalize_email(email)))


def describe_unsubscribe(uow: UnitOfWork, settings: MessagingSettings, token: str) -> dict:
    email, category = tokens.read_token(settings.unsubscribe_key, token)
    prefs = get_preferences(uow, email)
    return {"email": email, "category": category, "unsubscribed": not prefs[render.OPT_OUT_COLUMN[category]]}


def program_name(uow: UnitOfWork, program_id: str) -> str | None:
    program = uow.session.get(Program, program_id)
    return program.name if program else None


def program_url(uow: UnitOfWork, program_id: str) -> str | None:
    program = uow.session.get(Program, program_id)
    return program.join_url if program and program.join_url else None


def quota_limits(uow: UnitOfWork, settings: MessagingSettings, org_id: str) -> dict[str, int]:
    """The organization's own quotas, else the defaults of the settings."""
    defaults = {name: getattr(settings, name) for name in OrgQuota.NAMES}
    return OrgQuota.limits(uow.session.get(OrgQuota, org_id), defaults)


def get_quotas(uow: UnitOfWork, settings: MessagingSettings, org_id: str) -> dict:
    """The organization's quotas and what it used of them today (UTC)."""
    used = dict(uow.session.execute(select(QuotaUsage.counter, QuotaUsage.used).where(
        QuotaUsage.org_id == org_id, QuotaUsage.day == utcnow().date())).all())
    reminders = {counter.partition(":")[2]: n for counter, n in used.items() if counter.startswith("reminders:")}
    return {"limits": quota_limits(uow, settings, org_id),
            "used_today": {"messages": used.get("messages", 0), "recipients": used.get("recipients", 0),
                           "reminders_by_program": reminders}}
