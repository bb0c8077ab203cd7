"""Turning a delivery into an email: branded Jinja2 templates (HTML autoescaped),
Markdown rendered safely, and the MIME message with its headers."""
import functools
import quopri
import re
from dataclasses import dataclass
from email import policy
from email.charset import Charset
from email.headerregistry import Address
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid
from pathlib import Path

from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from contracts.messaging import ContentFormat, EmailCategory
from services.messaging.text import single_line

TEMPLATES_DIR = Path(__file__).with_name("templates")
DEFAULT_BRAND_COLOR = "#1f4e79"
HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")

# Account emails and the invitation are always sent; the others obey opt-outs.
ACCOUNT, INVITATION, PROGRAM, COURSE = (EmailCategory.ACCOUNT, EmailCategory.INVITATION, EmailCategory.PROGRAM,
                                      EmailCategory.COURSE)
OPT_OUT_COLUMN = {PROGRAM: "program_messages", COURSE: "course_announcements"}
# Which opt-out an email's unsubscribe link sets: every email but account ones carries one (the
# invitation's link stops later program emails; the invitation itself is never suppressed).
UNSUBSCRIBE_CATEGORY = {INVITATION: PROGRAM, PROGRAM: PROGRAM, COURSE: COURSE}


@dataclass(frozen=True)
class Template:
    category: str
    subject: str  # a Jinja2 expression source (plain text)
    cta_label: str | None = None
    cta_field: str | None = None  # context key holding the button's URL
    secret_link: bool = False  # the button's URL signs its holder in (kept only until the email is sent)


TEMPLATES = {
    "verify_email": Template(ACCOUNT, "Confirm your email address", "Confirm my email", "verify_url", True),
    "password_reset": Template(ACCOUNT, "Reset your password", "Choose a new password", "reset_url", True),
    "first_password": Template(ACCOUNT, "You are an administrator of {{ org_name }}", "Set my password", "reset_url",
                               True),
    "invitation": Template(INVITATION, "{{ org_name }} invites you to {{ program_name }}", "Accept the invitation",
                           "accept_url", True),
    "program_welcome": Template(PROGRAM, "Welcome to {{ program_name }}", "Open the program", "program_url"),
    "course_welcome": Template(COURSE, "You are enrolled in {{ item_name }}", "Start learning", "item_url"),
    "specialization_welcome": Template(COURSE, "You are enrolled in the specialization {{ item_name }}",
                                       "Start learning", "item_url"),
    "program_exit": Template(PROGRAM, "You have left {{ program_name }}"),
    "enroll_reminder": Template(PROGRAM, "Enroll in your first course of {{ program_name }}", "Find a course",
                                "program_url"),
    "admin_message": Template(PROGRAM, "{{ subject }}"),
    # A report link opens the organization's data for 24 h: a bearer secret, erased once sent.
    "report_ready": Template(ACCOUNT, "Your {{ report_name }} for {{ org_name }} is ready", "Download the report",
                             "download_url", True),
    "scheduled_report": Template(ACCOUNT, "Scheduled {{ report_name }} for {{ org_name }}", "Download the report",
                                 "download_url", True),
}

# Context keys holding login links: erased from a delivery once it is final (sender.py).
SECRET_LINK_FIELDS = tuple(sorted({t.cta_field for t in TEMPLATES.values() if t.secret_link}))

_html = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html"]),
                    undefined=ChainableUndefined, keep_trailing_newline=True)
_text = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=False, undefined=ChainableUndefined,
                    keep_trailing_newline=True)
# Raw HTML in Markdown is shown as text, links only with safe schemes (markdown-it's default validation).
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})


@functools.cache
def _subject_template(template: str):
    return _text.from_string(TEMPLATES[template].subject)


def markdown_to_html(source: str) -> Markup:
    return Markup(_markdown.render(source))


def text_to_html(source: str) -> Markup:
    paragraphs = [p for p in re.split(r"\n\s*\n", source.strip()) if p.strip()]
    return Markup("\n").join(Markup("<p>{}</p>").format(Markup("<br>\n").join(escape(line) for line in p.split("\n")))
                             for p in paragraphs)


def brand(org: dict | None) -> dict:
    org = org or {}
    color = org.get("brand_color") or ""
    logo = org.get("logo_url") or ""
    return {
        "org_name": org.get("name") or "Your learning program",
        "brand_color": color if HEX_COLOR.match(color) else DEFAULT_BRAND_COLOR,
        "logo_url": logo if logo.startswith(("https://", "http://")) else None,
    }


@dataclass
class Rendered:
    subject: str
    text: str
    html: str


def render(template: str, context: dict, org: dict | None, unsubscribe_url: str | None = None) -> Rendered:
    spec = TEMPLATES[template]
    values = {**context, **brand(org), "unsubscribe_url": unsubscribe_url}
    if spec.cta_field and context.get(spec.cta_field):
        values.setdefault("cta_label", spec.cta_label)
        values["cta_url"] = context[spec.cta_field]
    subject = " ".join(_subject_template(template).render(values).split())[:200]
    values["subject"] = subject
    html = _html.get_template(f"{template}.html").render(values)
    text = _text.get_template(f"{template}.txt").render(values)
    return Rendered(subject, re.sub(r"\n{3,}", "\n\n", text).strip() + "\n", html)


def message_context(message) -> dict:
    """The admin message's own part of the context (same for every recipient)."""
    body_html = (markdown_to_html(message.content) if message.content_format == ContentFormat.MARKDOWN
                 else text_to_html(message.content))
    cta = message.cta or {}
    return {"subject": message.subject, "body_html": body_html, "body_text": message.content,
            "cta_label": cta.get("label"), "cta_url": cta.get("url")}


# ---- MIME ------------------------------------------------------------------


UTF8_8BIT = Charset("utf-8")
UTF8_8BIT.body_encoding = None  # 8bit: links stay readable in a .eml file


def _part(content: str, subtype: str) -> MIMEText:
    if max((len(line.encode()) for line in content.splitlines()), default=0) <= 900:
        return MIMEText(content, subtype, UTF8_8BIT)
    # SMTP limits lines to 998 bytes: long lines go quoted-printable.
    part = MIMEText("", subtype, "utf-8")
    part.replace_header("Content-Transfer-Encoding", "quoted-printable")
    part.set_payload(quopri.encodestring(content.encode()).decode("ascii"))
    return part


# Header values are made by the standard library's header classes (RFC 5322
# quoting, RFC 2047 encoding of non-ASCII), then checked to be one ASCII line.
HEADER_POLICY = policy.SMTP.clone(max_line_length=998)
SUBJECT_LIMIT = 200


def header_value(name: str, value: str | Address) -> str:
    """The encoded value of one header, unfolded to a single line. Raises
    ValueError rather than ever returning a value that could break the header block."""
    folded = HEADER_POLICY.header_store_parse(name, value)[1].fold(policy=HEADER_POLICY)
    encoded = re.sub(r"\r\n(?=[ \t])", "", folded).removesuffix("\r\n").partition(": ")[2]
    if not encoded.isascii() or not encoded.isprintable() or len(encoded) > 990 - len(name):
        raise ValueError(f"the {name} header cannot be encoded safely")
    return encoded


def address(display_name: str | None, addr_spec: str) -> Address:
    """An address whose display name is cleaned to one short line (names come
    from people, organizations and admins: any text at all)."""
    return Address(display_name=single_line(display_name), addr_spec=addr_spec)


# A display name of plain words and a plain address need no quoting nor encoding: the header
# classes would write them as they are (tests/test_rules.py checks that they agree).
PLAIN_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*$")
PLAIN_ADDRESS = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+$")


@functools.lru_cache(maxsize=1024)
def address_header(name: str, display_name: str | None, addr_spec: str) -> str:
    """`header_value` of an address (kept: a batch repeats its From and Reply-To)."""
    shown = single_line(display_name)
    if PLAIN_NAME.match(shown) and PLAIN_ADDRESS.match(addr_spec) and ".." not in addr_spec:
        return f"{shown} <{addr_spec}>" if shown else addr_spec
    return header_value(name, Address(display_name=shown, addr_spec=addr_spec))


@functools.lru_cache(maxsize=256)
def subject_header(subject: str) -> str:
    return header_value("Subject", single_line(subject, SUBJECT_LIMIT))


def link_header(url: str) -> str:
    """`<url>`: a link we built (ASCII, no spaces) goes as it is; anything else is encoded."""
    value = f"<{url}>"
    if value.isascii() and value.isprintable() and " " not in value and len(value) < 900:
        return value
    return header_value("List-Unsubscribe", value)


def build_mime(rendered: Rendered, *, to: str, to_name: str | None, mail_from: str, from_name: str,
               reply_to: str | None, unsubscribe_url: str | None) -> MIMEMultipart:
    # The compat32 classes for the body: the same MIME as EmailMessage, several times
    # faster to build; every header value is made by header_value (or is checked plain ASCII).
    mime = MIMEMultipart("alternative")
    mime["From"] = address_header("From", from_name, mail_from)
    mime["To"] = address_header("To", to_name, to)
    mime["Subject"] = subject_header(rendered.subject)
    mime["Date"] = formatdate(localtime=False, usegmt=True)
    mime["Message-ID"] = make_msgid(domain=mail_from.rpartition("@")[2] or "localhost")
    if reply_to:
        mime["Reply-To"] = address_header("Reply-To", None, reply_to)
    if unsubscribe_url:
        # RFC 8058: mail clients POST "List-Unsubscribe=One-Click" to this URL.
        mime["List-Unsubscribe"] = link_header(unsubscribe_url)
        mime["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mime.attach(_part(rendered.text, "plain"))
    mime.attach(_part(rendered.html, "html"))
    return mime
