"""messaging's rules, as plain functions over a unit of work (or a session,
for the sender loop)."""
import base64
import hashlib
import hmac
import json
import logging
import uuid
from datetime import UTC, datetime
from email.header import decode_header, make_header

from sqlalchemy import case, func, literal, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import JSONB, insert

from contracts.errors import AppError, ErrorCode, not_found
from servicekit import config
from servicekit.bulk import insert_rows
from servicekit.outbox import record_event
from services.messaging import audience as audiences
from services.messaging import render
from services.messaging.models import (
    Delivery,
    Enrollment,
    Invitation,
    Membership,
    Message,
    Org,
    Preference,
    Program,
)

log = logging.getLogger(__name__)
PENDING_STATES = ("QUEUED", "CLAIMED", "SENDING")


def now() -> datetime:
    return datetime.now(UTC)


def normalize_email(email: str) -> str:
    return email.strip().lower()


# ---------------------------------------------------------------- projection


def upsert_org(uow, org_id: str, values: dict) -> None:
    values = {k: values.get(k) for k in ("name", "brand_color", "logo_url")}
    stmt = insert(Org).values(id=org_id, **values)
    uow.session.execute(stmt.on_conflict_do_update(index_elements=[Org.id], set_=values))


def person_seen(uow, org_id: str | None, user_id: str | None, email: str | None, full_name: str | None) -> None:
    if org_id:
        people_seen(uow, org_id, [{"user_id": user_id, "email": email, "full_name": full_name}])


def people_seen(uow, org_id: str, people: list[dict]) -> None:
    """Remember who these people ({user_id, email, full_name}) are in the organization."""
    rows = {p["user_id"]: {"user_id": p["user_id"], "email": normalize_email(p["email"]),
                           "full_name": p.get("full_name") or p["email"]}
            for p in people if p.get("user_id") and p.get("email")}
    if rows:
        insert_rows(uow.session, "people", {"user_id": "text", "email": "text", "full_name": "text"},
                    [rows[user_id] for user_id in sorted(rows)], constants={"org_id": ("text", org_id)},
                    conflict="ON CONFLICT (org_id, user_id) DO UPDATE SET email = EXCLUDED.email, "
                             "full_name = EXCLUDED.full_name")


def upsert_program(uow, p: dict, removed: bool = False) -> None:
    values = {"org_id": p["org_id"], "name": p["name"], "removed": removed}
    if p.get("join_url"):
        values["join_url"] = p["join_url"]
    stmt = insert(Program).values(id=p["program_id"], **values)
    uow.session.execute(stmt.on_conflict_do_update(index_elements=[Program.id], set_=values))


def set_membership(uow, p: dict, active: bool) -> None:
    values = {"org_id": p["org_id"], "contract_id": p.get("contract_id"), "active": active}
    stmt = insert(Membership).values(program_id=p["program_id"], user_id=p["user_id"], **values)
    uow.session.execute(stmt.on_conflict_do_update(index_elements=[Membership.program_id, Membership.user_id],
                                                   set_=values))


def upsert_invitation(uow, p: dict, pending: bool = True) -> None:
    upsert_invitations(uow, p, [p], pending)


def upsert_invitations(uow, common: dict, invitations: list[dict], pending: bool = True) -> None:
    """Remember invitations to one program: `common` holds org, program and
    contract, each item its invitation_id, user_id, email and full_name."""
    columns = {"id": "text", "user_id": "text", "email": "text", "full_name": "text"}
    shared = {"org_id": ("text", common["org_id"]), "program_id": ("text", common["program_id"]),
              "contract_id": ("text", common.get("contract_id")), "pending": ("boolean", pending)}
    fill = ", ".join(f"{name} = EXCLUDED.{name}" for name in [*shared, *columns] if name != "id")
    insert_rows(uow.session, "invitations", columns, sorted((
        {"id": i["invitation_id"], "user_id": i.get("user_id"), "email": normalize_email(i["email"]),
         "full_name": i.get("full_name")} for i in invitations), key=lambda row: row["id"]),
        constants=shared, conflict=f"ON CONFLICT (id) DO UPDATE SET {fill}")


def close_invitation(uow, invitation_id: str) -> None:
    uow.session.execute(update(Invitation).where(Invitation.id == invitation_id).values(pending=False))


def upsert_enrollment(uow, p: dict) -> None:
    values = {"org_id": p["org_id"], "program_id": p["program_id"], "user_id": p["user_id"],
              "course_id": p.get("course_id"), "specialization_id": p.get("specialization_id"), "active": True}
    stmt = insert(Enrollment).values(id=p["enrollment_id"], **values)
    uow.session.execute(stmt.on_conflict_do_update(index_elements=[Enrollment.id], set_=values))


def program_name(uow, program_id: str, fallback: str | None = None) -> str | None:
    program = uow.session.get(Program, program_id)
    return program.name if program else fallback


def program_url(uow, program_id: str) -> str | None:
    program = uow.session.get(Program, program_id)
    return program.join_url if program and program.join_url else None


# ---------------------------------------------------------------- queueing emails


def opted_out(session, emails: set[str], category: str) -> set[str]:
    """Which of these (normalized) addresses turned this category of email off."""
    column = render.OPT_OUT_COLUMN.get(category)
    if column is None or not emails:
        return set()  # account emails and invitations are always sent
    return set(session.scalars(select(Preference.email).where(Preference.email.in_(emails),
                                                              getattr(Preference, column).is_(False))))


def queue_email(uow, *, source_key: str, template: str, email: str | None, org_id: str | None = None,
                user_id: str | None = None, full_name: str | None = None, context: dict | None = None) -> str | None:
    """Record one email to send. Returns the state, None if a duplicate."""
    if not email:
        return None
    return queue_emails(uow, source_key, template, [{"email": email, "org_id": org_id, "user_id": user_id,
                                                     "full_name": full_name, "context": context}]).get(
        normalize_email(email))


DELIVERY_COLUMNS = {"recipient": "text", "org_id": "text", "user_id": "text", "full_name": "text", "context": "jsonb",
                    "state": "text"}


def queue_emails(uow, source_key: str, template: str, emails: list[dict]) -> dict[str, str]:
    """Record emails to send, one per {email, org_id, user_id, full_name,
    context}. The unique (source_key, recipient, template) makes a redelivered
    event a no-op. Returns recipient -> state of the ones recorded now."""
    category = render.TEMPLATES[template].category
    rows = {}
    for e in emails:
        if e.get("email"):
            recipient = normalize_email(e["email"])
            rows[recipient] = {
                "recipient": recipient, "org_id": e.get("org_id"), "user_id": e.get("user_id"),
                "full_name": e.get("full_name"),
                "context": json.dumps({"full_name": e.get("full_name") or recipient, **(e.get("context") or {})})}
    if not rows:
        return {}
    suppressed = opted_out(uow.session, set(rows), category)
    for recipient, row in rows.items():
        row["state"] = "SUPPRESSED" if recipient in suppressed else "QUEUED"
    return dict(insert_rows(uow.session, "deliveries", DELIVERY_COLUMNS, list(rows.values()),
                            constants={"source_key": ("text", source_key[:100]), "template": ("text", template),
                                       "category": ("text", category)},
                            conflict="ON CONFLICT ON CONSTRAINT deliveries_once DO NOTHING",
                            returning="recipient, state").all())


# ---------------------------------------------------------------- preferences and unsubscribe


def preferences_view(pref: Preference | None) -> dict:
    return {"program_messages": pref.program_messages if pref else True,
            "course_announcements": pref.course_announcements if pref else True}


def get_preferences(uow, email: str) -> dict:
    return preferences_view(uow.session.get(Preference, normalize_email(email)))


def set_preferences(uow, email: str, changes: dict) -> dict:
    values = {k: changes[k] for k in ("program_messages", "course_announcements") if k in changes}
    stmt = insert(Preference).values(email=normalize_email(email), **values, updated_at=now())
    if values:
        stmt = stmt.on_conflict_do_update(index_elements=[Preference.email], set_={**values, "updated_at": now()})
    else:
        stmt = stmt.on_conflict_do_nothing()
    uow.session.execute(stmt)
    return get_preferences(uow, email)


def _unsubscribe_secret() -> bytes:
    explicit = config.env("UNSUBSCRIBE_SECRET")
    if explicit:
        return explicit.encode()
    return hmac.new(config.jwt_secret().encode(), b"messaging-unsubscribe", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def unsubscribe_token(email: str, category: str) -> str:
    """A signed, login-free link: who, and which kind of email they leave."""
    payload = f"{normalize_email(email)}\n{category}".encode()
    signature = hmac.new(_unsubscribe_secret(), payload, hashlib.sha256).digest()[:18]
    return f"{_b64(payload)}.{_b64(signature)}"


def read_unsubscribe_token(token: str) -> tuple[str, str]:
    refused = AppError(ErrorCode.TOKEN_INVALID, "this unsubscribe link is not valid")
    try:
        encoded, _, signature = token.partition(".")
        payload = _unb64(encoded)
        expected = hmac.new(_unsubscribe_secret(), payload, hashlib.sha256).digest()[:18]
        if not hmac.compare_digest(expected, _unb64(signature)):
            raise refused
        email, category = payload.decode().split("\n")
    except (ValueError, UnicodeDecodeError):
        raise refused from None
    if category not in render.OPT_OUT_COLUMN:
        raise refused
    return email, category


def describe_unsubscribe(uow, token: str) -> dict:
    email, category = read_unsubscribe_token(token)
    prefs = get_preferences(uow, email)
    return {"email": email, "category": category, "unsubscribed": not prefs[render.OPT_OUT_COLUMN[category]]}


def unsubscribe(uow, token: str) -> dict:
    email, category = read_unsubscribe_token(token)
    set_preferences(uow, email, {render.OPT_OUT_COLUMN[category]: False})
    return {"email": email, "category": category, "unsubscribed": True}


# ---------------------------------------------------------------- admin messages

EDITABLE = ("audience", "subject", "content", "content_format", "cta", "sender_name", "reply_to")


def locate_message(uow, message_id: str) -> dict:
    message = _find(uow, message_id)
    return {"id": message.id, "org_id": message.org_id, "created_by": message.created_by}


def _find(uow, message_id: str) -> Message:
    if not _is_uuid(message_id):
        raise not_found("message")
    message = uow.session.get(Message, str(message_id))
    if message is None or message.state == "DISCARDED":
        raise not_found("message")
    return message


def get_message(uow, org_id: str, message_id: str, viewer: dict) -> Message:
    """Org admins see their organization's messages; program admins their own."""
    message = _find(uow, message_id)
    if message.org_id != org_id or (viewer.get("program_scope") is not None
                                    and message.created_by != viewer.get("user_id")):
        raise not_found("message")
    return message


def list_messages(uow, org_id: str, viewer: dict, limit: int = 50, cursor: str | None = None) -> tuple:
    """Newest first, by pages; the cursor is the last message id of the previous page."""
    query = select(Message).where(Message.org_id == org_id, Message.state != "DISCARDED")
    if viewer.get("program_scope") is not None:
        query = query.where(Message.created_by == viewer.get("user_id"))
    if cursor:
        after = uow.session.get(Message, cursor) if _is_uuid(cursor) else None
        if after is None or after.org_id != org_id:
            raise AppError(ErrorCode.INVALID_INPUT, "invalid cursor", {"cursor": ["not a cursor of this list"]})
        query = query.where(tuple_(Message.created_at, Message.id) < tuple_(after.created_at, after.id))
    page = list(uow.session.scalars(query.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit + 1)))
    return page[:limit], (page[limit - 1].id if len(page) > limit else None)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _check_audience(uow, org_id: str, audience: dict, program_scope) -> audiences.AudienceQuery:
    query = audiences.build_query(uow.session, org_id, audience, program_scope)
    audiences.check_custom(uow.session, query)
    return query


def create_message(uow, org_id: str, author: dict, program_scope: list[str] | None, data: dict) -> Message:
    _check_audience(uow, org_id, data["audience"], program_scope)
    message = Message(org_id=org_id, created_by=author["user_id"], author_email=normalize_email(author["email"]),
                      author_name=author["full_name"], program_scope=program_scope,
                      **{k: data.get(k) for k in EDITABLE})
    uow.session.add(message)
    uow.session.flush()
    return message


def update_message(uow, org_id: str, message_id: str, viewer: dict, changes: dict) -> Message:
    message = get_message(uow, org_id, message_id, viewer)
    if message.state != "DRAFT":
        raise AppError(ErrorCode.MESSAGE_NOT_EDITABLE, "only a draft can be changed", {"state": message.state})
    if "audience" in changes:
        _check_audience(uow, org_id, changes["audience"], message.program_scope)
    for key in EDITABLE:
        if key in changes:
            setattr(message, key, changes[key])
    message.updated_at = now()
    uow.session.flush()
    return message


def discard_message(uow, org_id: str, message_id: str, viewer: dict) -> None:
    message = get_message(uow, org_id, message_id, viewer)
    if message.state != "DRAFT":
        raise AppError(ErrorCode.MESSAGE_NOT_EDITABLE, "only a draft can be discarded", {"state": message.state})
    message.state = "DISCARDED"
    message.updated_at = now()


def count_audience(uow, org_id: str, audience: dict, program_scope) -> int:
    return audiences.count(uow.session, _check_audience(uow, org_id, audience, program_scope))


def _headers_for_message(message: Message) -> tuple[str, str]:
    sender = render.sender_settings()
    from_name = message.sender_name or message.author_name
    reply_to = message.author_email if message.reply_to else sender.no_reply
    return from_name, reply_to


def preview_message(uow, org_id: str, message_id: str, viewer: dict) -> dict:
    """What a recipient receives: the first person of the audience (or the author)."""
    message = get_message(uow, org_id, message_id, viewer)
    query = audiences.build_query(uow.session, org_id, message.audience, message.program_scope)
    first = uow.session.execute(audiences.recipients(query).limit(1)).first()
    email, name = (first.email, first.full_name) if first else (message.author_email, message.author_name)
    rendered, mime = _message_mime(message, _org_dict(uow.session, org_id), email, name)
    headers = {k: str(make_header(decode_header(mime[k]))) for k in (
        "From", "To", "Reply-To", "Subject", "List-Unsubscribe", "List-Unsubscribe-Post") if mime[k]}
    return {"subject": rendered.subject, "html": rendered.html, "text": rendered.text, "headers": headers}


def send_message(uow, org_id: str, message_id: str, viewer: dict, accept_terms: bool) -> Message:
    if accept_terms is not True:
        raise AppError(ErrorCode.TERMS_NOT_ACCEPTED, "accept the terms of use and the privacy policy to send",
                       {"accept_terms": ["must be true"]})
    message = get_message(uow, org_id, message_id, viewer)
    # Two concurrent sends: the second waits here and then sees SENDING (fresh values, not the cached draft).
    locked = uow.session.execute(select(Message).where(Message.id == message.id).with_for_update()
                                 .execution_options(populate_existing=True)).scalar_one()
    if locked.state != "DRAFT":
        raise AppError(ErrorCode.MESSAGE_NOT_EDITABLE, "this message was already sent", {"state": locked.state})
    query = _check_audience(uow, org_id, message.audience, message.program_scope)
    people = audiences.recipients(query).subquery()
    state = case((Preference.program_messages.is_(False), "SUPPRESSED"), else_="QUEUED")
    rows = (select(literal(org_id), literal(f"message:{message.id}"), literal("admin_message"), literal("PROGRAM"),
                   literal(message.id), people.c.email, people.c.user_id, people.c.full_name,
                   literal({}, JSONB), state)
            .select_from(people.outerjoin(Preference, Preference.email == people.c.email)))
    # One INSERT ... SELECT, however large the audience; the sender loop paces the actual sending.
    stmt = insert(Delivery).from_select(
        ["org_id", "source_key", "template", "category", "message_id", "recipient", "user_id", "full_name",
         "context", "state"], rows).on_conflict_do_nothing(constraint="deliveries_once")
    inserted = uow.session.execute(stmt).rowcount
    if not inserted:
        raise AppError(ErrorCode.RULE_VIOLATION, "nobody is in this audience", {"audience": ["is empty"]})
    locked.state = "SENDING"
    locked.sent_at = now()
    uow.session.flush()
    complete_messages(uow.session, {message.id}, commit=False)
    return locked


def message_counts(session, message_id: str) -> dict:
    rows = dict(session.execute(select(Delivery.state, func.count()).where(Delivery.message_id == message_id)
                                .group_by(Delivery.state)).all())
    return {"recipients": sum(rows.values()), "queued": sum(rows.get(s, 0) for s in PENDING_STATES),
            "sent": rows.get("SENT", 0), "suppressed": rows.get("SUPPRESSED", 0), "failed": rows.get("FAILED", 0)}


def message_view(uow, message: Message) -> dict:
    view = {k: getattr(message, k) for k in (*EDITABLE, "id", "org_id", "state", "created_by", "created_at",
                                             "updated_at", "sent_at")}
    if message.state == "DRAFT":
        view["counts"] = None
    else:
        view["counts"] = message.final_counts or message_counts(uow.session, message.id)
    return view


def complete_messages(session, message_ids, commit: bool = True) -> None:
    """A message whose deliveries are all final is SENT; announced once."""
    for message_id in {str(m) for m in message_ids}:
        counts = message_counts(session, message_id)
        if counts["queued"]:
            continue
        done = session.execute(update(Message).where(Message.id == message_id, Message.state == "SENDING")
                               .values(state="SENT", completed_at=now(), final_counts=counts)
                               .returning(Message.org_id)).first()
        if done is not None:
            record_event(session, "messaging", "messaging.message.sent.v1", {
                "message_id": message_id, "org_id": done.org_id, "recipients": counts["recipients"],
                "sent": counts["sent"], "suppressed": counts["suppressed"], "failed": counts["failed"]},
                done.org_id)
        if commit:
            session.commit()


DELIVERY_RETENTION_DAYS = int(config.env("MESSAGING_DELIVERY_RETENTION_DAYS", "180"))
PURGE_BATCH = 5_000


def purge_old_deliveries(session, days: int = DELIVERY_RETENTION_DAYS) -> int:
    """Delete final deliveries older than the retention period, a batch at a
    time (safe with replicas: SKIP LOCKED). An admin message's deliveries go
    only once its counts are kept on the message. Returns how many went."""
    return session.execute(text(
        "DELETE FROM deliveries WHERE id IN (SELECT d.id FROM deliveries d "
        "LEFT JOIN messages m ON m.id = d.message_id "
        "WHERE d.created_at < now() - make_interval(days => :days) "
        "AND d.state IN ('SENT', 'FAILED', 'SUPPRESSED') AND (d.message_id IS NULL OR m.final_counts IS NOT NULL) "
        f"LIMIT {PURGE_BATCH} FOR UPDATE OF d SKIP LOCKED)"), {"days": days}).rowcount


# ---------------------------------------------------------------- reminders


def remind_enroll(uow, org_id: str, program_id: str, request_id: str) -> dict:
    """Funnel quick action: members of the program with no enrollment."""
    program = uow.session.get(Program, program_id)
    if program is None or program.org_id != org_id or program.removed:
        raise not_found("program")
    query = audiences.build_query(uow.session, org_id, {"preset": "JOINED_NOT_ENROLLED",
                                                        "filters": {"program_ids": [program_id]}}, None)
    counts = {"recipients": 0, "queued": 0, "suppressed": 0}
    for person in uow.session.execute(audiences.recipients(query)).all():
        state = queue_email(uow, source_key=f"remind:{request_id}", template="enroll_reminder", email=person.email,
                            org_id=org_id, user_id=person.user_id, full_name=person.full_name,
                            context={"program_name": program.name, "program_url": program.join_url})
        if state:
            counts["recipients"] += 1
            counts["queued" if state == "QUEUED" else "suppressed"] += 1
    return counts


# ---------------------------------------------------------------- rendering deliveries


def _org_dict(session, org_id: str | None) -> dict | None:
    org = session.get(Org, org_id) if org_id else None
    return None if org is None else {"name": org.name, "brand_color": org.brand_color, "logo_url": org.logo_url}


def _message_mime(message: Message, org: dict | None, email: str, full_name: str | None,
                  shared: dict | None = None):
    """(rendered, MIME) of an admin message for one recipient; `shared`: the
    message's own rendered context, computed once per batch."""
    unsubscribe_url = render.unsubscribe_link(unsubscribe_token(email, render.PROGRAM))
    shared = shared or render.message_context(message)
    rendered = render.render("admin_message", {**shared, "full_name": full_name}, org, unsubscribe_url)
    from_name, reply_to = _headers_for_message(message)
    return rendered, render.build_mime(rendered, to=email, to_name=full_name, sender=render.sender_settings(),
                                       from_name=from_name, reply_to=reply_to, unsubscribe_url=unsubscribe_url)


def prepare_emails(session, rows) -> dict:
    """MIME messages for claimed deliveries, by delivery id (missing: could not render)."""
    sender = render.sender_settings()
    orgs = {org_id: _org_dict(session, org_id) for org_id in {r.org_id for r in rows if r.org_id}}
    messages = {m_id: session.get(Message, m_id) for m_id in {r.message_id for r in rows if r.message_id}}
    shared = {m_id: render.message_context(message) for m_id, message in messages.items()}
    prepared = {}
    for row in rows:
        try:
            org = orgs.get(row.org_id)
            if row.message_id:
                prepared[row.id] = _message_mime(messages[row.message_id], org, row.recipient, row.full_name,
                                                 shared[row.message_id])[1]
                continue
            category = render.TEMPLATES[row.template].category
            unsubscribe_to = render.UNSUBSCRIBE_CATEGORY.get(category)
            unsubscribe_url = (render.unsubscribe_link(unsubscribe_token(row.recipient, unsubscribe_to))
                               if unsubscribe_to else None)
            rendered = render.render(row.template, row.context, org, unsubscribe_url)
            from_name = (org or {}).get("name") or "Learning platform"
            prepared[row.id] = render.build_mime(rendered, to=row.recipient, to_name=row.full_name, sender=sender,
                                                 from_name=from_name, reply_to=sender.no_reply,
                                                 unsubscribe_url=unsubscribe_url)
        except Exception:  # one broken email must not stop the batch
            log.exception("could not render delivery %s", row.id)
    return prepared
