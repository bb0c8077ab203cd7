"""From a delivery (or a draft, for its preview) to the MIME message a
recipient gets: the template, the organization's branding, the unsubscribe
link and the headers."""
import logging
from dataclasses import dataclass
from email.policy import compat32

from sqlalchemy.orm import Session

from services.messaging import render
from services.messaging import unsubscribe as tokens
from services.messaging.models import Message, Org
from services.messaging.settings import MessagingSettings

log = logging.getLogger(__name__)
SYSTEM_SENDER_NAME = "Learning platform"  # account emails of no organization
# SMTP's line ending; headers unfolded up to SMTP's line limit (links stay on one line).
SMTP_LINES = compat32.clone(linesep="\r\n", max_line_length=998)


def org_brand(session: Session, org_id: str | None) -> dict | None:
    org = session.get(Org, org_id) if org_id else None
    return None if org is None else {"name": org.name, "brand_color": org.brand_color, "logo_url": org.logo_url}


def _unsubscribe_url(settings: MessagingSettings, email: str, category: str | None) -> str | None:
    if category is None:
        return None
    return settings.unsubscribe_link(tokens.make_token(settings.unsubscribe_key, email, category))


def message_mime(settings: MessagingSettings, message: Message, org: dict | None, email: str,
                 full_name: str | None, shared: dict | None = None):
    """(rendered, MIME) of an admin message for one recipient; `shared`: the
    message's own rendered context, computed once per batch."""
    unsubscribe_url = _unsubscribe_url(settings, email, render.PROGRAM)
    shared = shared or render.message_context(message)
    rendered = render.render("admin_message", {**shared, "full_name": full_name}, org, unsubscribe_url)
    return rendered, render.build_mime(rendered, to=email, to_name=full_name, mail_from=settings.mail_from,
                                       from_name=message.from_name(),
                                       reply_to=message.reply_address(settings.no_reply),
                                       unsubscribe_url=unsubscribe_url)


def system_mime(settings: MessagingSettings, row, org: dict | None):
    """The MIME of a system email (a delivery with a template and its context)."""
    category = render.TEMPLATES[row.template].category
    unsubscribe_url = _unsubscribe_url(settings, row.recipient, render.UNSUBSCRIBE_CATEGORY.get(category))
    rendered = render.render(row.template, row.context, org, unsubscribe_url)
    return render.build_mime(rendered, to=row.recipient, to_name=row.full_name, mail_from=settings.mail_from,
                             from_name=(org or {}).get("name") or SYSTEM_SENDER_NAME, reply_to=settings.no_reply,
                             unsubscribe_url=unsubscribe_url)


@dataclass(frozen=True)
class Prepared:
    message_id: str  # the Message-ID header
    data: bytes  # the whole email, as it goes to the SMTP server


def prepare_emails(session: Session, settings: MessagingSettings, rows) -> dict[int, Prepared]:
    """The emails of claimed deliveries, by delivery id; missing: could not be
    rendered or encoded (the delivery fails with that reason, nothing is sent)."""
    orgs = {org_id: org_brand(session, org_id) for org_id in {r.org_id for r in rows if r.org_id}}
    messages = {m_id: session.get(Message, m_id) for m_id in {r.message_id for r in rows if r.message_id}}
    shared = {m_id: render.message_context(message) for m_id, message in messages.items()}
    prepared = {}
    for row in rows:
        try:
            org = orgs.get(row.org_id)
            if row.message_id:
                mime = message_mime(settings, messages[row.message_id], org, row.recipient, row.full_name,
                                    shared[row.message_id])[1]
            else:
                mime = system_mime(settings, row, org)
            prepared[row.id] = Prepared(mime["Message-ID"], mime.as_bytes(policy=SMTP_LINES))
        except Exception:  # one broken email must not stop the batch
            log.exception("could not render delivery %s", row.id)
    return prepared
