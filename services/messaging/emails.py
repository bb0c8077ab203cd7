"""Which email an event asks for, and what it shows: the template choice and
the content of every system email, as plain functions over event payloads
(the handlers queue what these return)."""
from dataclasses import dataclass, field
from datetime import UTC

from contracts.identity import PasswordResetReason
from contracts.programs import ItemKind


@dataclass(frozen=True)
class Email:
    """One email to queue: the template, its recipient and what it shows."""

    template: str
    email: str | None
    org_id: str | None = None
    user_id: str | None = None
    full_name: str | None = None
    context: dict = field(default_factory=dict)


def when(value) -> str:
    """An expiry as emails show it."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if hasattr(value, "astimezone") else str(value)


def account_name(p: dict) -> str | None:
    """An account email shows the name only when identity trusts it (the
    address is verified, or an admin gave the name): a signer-up's own words
    (a link, an advert) would be carried into someone else's inbox."""
    return p["full_name"] if p.get("name_trusted") else None


def verification(p: dict, org_id: str | None) -> Email:
    return Email("verify_email", p["email"], org_id, p["user_id"], account_name(p),
                 {"verify_url": p["verify_url"], "expires_at": when(p["expires_at"])})


def password_reset_template(reason: str) -> str:
    """A new administrator sets a first password; everyone else resets one."""
    return "first_password" if reason == PasswordResetReason.FIRST_PASSWORD else "password_reset"


def password_reset(p: dict, event_org_id: str | None) -> Email:
    return Email(password_reset_template(p["reason"]), p["email"], p.get("org_id") or event_org_id, p["user_id"],
                 account_name(p), {"reset_url": p["reset_url"], "expires_at": when(p["expires_at"])})


def program_welcome(p: dict, program_url: str | None) -> Email:
    return Email("program_welcome", p["email"], p["org_id"], p["user_id"], p["full_name"],
                 {"program_name": p["program_name"], "program_url": program_url})


def program_exit(p: dict) -> Email:
    return Email("program_exit", p["email"], p["org_id"], p["user_id"], p["full_name"],
                 {"program_name": p["program_name"], "reason": p["reason"]})


def enrollment_template(kind: str) -> str:
    return "specialization_welcome" if kind == ItemKind.SPECIALIZATION else "course_welcome"


def enrollment_welcome(p: dict, program_name: str | None, program_url: str | None) -> Email:
    return Email(enrollment_template(p["kind"]), p.get("email"), p["org_id"], p["user_id"], p.get("full_name"),
                 {"item_name": p["item_name"], "program_name": program_name, "item_url": program_url})


def invitation(common: dict, item: dict) -> Email:
    """An invitation email: program and message from the event (`common`),
    link and expiry from the invitation (`item`; the same dict for a single one)."""
    return Email("invitation", item["email"], common["org_id"], item.get("user_id"), item.get("full_name"),
                 {"program_name": common["program_name"], "accept_url": item["accept_url"],
                  "custom_message": common.get("custom_message"), "expires_at": when(item["expires_at"])})


def enroll_reminder(org_id: str, person, program_name: str, program_url: str | None) -> Email:
    return Email("enroll_reminder", person.email, org_id, person.user_id, person.full_name,
                 {"program_name": program_name, "program_url": program_url})


def report_link(p: dict) -> Email:
    """A report link for an admin (reporting.report.ready.v1): asked for, or from the schedule."""
    return Email("scheduled_report" if p.get("scheduled") else "report_ready", p["email"], p["org_id"], p["user_id"],
                 p.get("full_name"), {"report_name": p["report_name"], "program_name": p.get("program_name"),
                                      "download_url": p["download_url"], "expires_at": when(p["expires_at"])})
