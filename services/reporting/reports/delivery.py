"""Report links: who gets them, what each one opens, and whether it still may.

A link (links.DOWNLOAD, valid REPORT_LINK_TTL_HOURS, 24 h) names the
organization, the admin it was made for, the report and the programs the
admin's scope covered when it was asked (None: every program, an org admin).
Opening it exports that report for those programs, with the data as it is
then; it works only while the admin still holds that scope (`holds_scope`,
reporting's projection of admin roles): an admin removed, or a program admin
no longer admin of one of the link's programs, makes it 404 (issue 11,
item 10)."""
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text

from contracts.errors import AppError, ErrorCode
from servicekit.db import UnitOfWork
from services.reporting.reports import definitions, links
from services.reporting.reports.export import ExportRequest
from services.reporting.reports.settings import ReportsSettings

REPORT_NAMES = {definitions.USAGE: "Usage report", definitions.MEMBERSHIP: "Membership report",
                definitions.SPECIALIZATION: "Specialization report"}


@dataclass(frozen=True)
class Recipient:
    user_id: str
    email: str
    full_name: str | None
    programs: list[str] | None  # None: every program (org admin)


def admin_scopes(uow: UnitOfWork, org_id: str, user_id: str | None = None) -> list[Recipient]:
    """Each admin of the organization (or the one user) with their scope now:
    every program if they hold ORG_ADMIN, else the live programs of their
    PROGRAM_ADMIN roles."""
    rows = uow.session.execute(text(
        "SELECT a.user_id::text, min(a.email), min(a.full_name), bool_or(a.role = 'ORG_ADMIN'), "
        "       array_remove(array_agg(DISTINCT p.program_id::text), NULL) "
        "FROM admins a "
        "LEFT JOIN LATERAL unnest(a.program_ids) AS g(program_id) ON a.role = 'PROGRAM_ADMIN' "
        "LEFT JOIN programs p ON p.program_id::text = g.program_id AND p.org_id = a.org_id AND p.removed_at IS NULL "
        "WHERE a.org_id = CAST(:org AS uuid) AND (CAST(:user AS uuid) IS NULL OR a.user_id = CAST(:user AS uuid)) "
        "GROUP BY a.user_id ORDER BY a.user_id"), {"org": org_id, "user": user_id}).all()
    return [Recipient(uid, email, name, None if is_org_admin else sorted(programs))
            for uid, email, name, is_org_admin, programs in rows]


def recipients(uow: UnitOfWork, org_id: str) -> list[Recipient]:
    """Who a scheduled run emails: every admin whose scope covers something."""
    return [r for r in admin_scopes(uow, org_id) if r.programs is None or r.programs]


def holds_scope(uow: UnitOfWork, org_id: str, user_id: str, programs: list[str] | None) -> bool:
    found = admin_scopes(uow, org_id, user_id)
    if not found:
        return False
    now = found[0].programs
    if now is None:
        return True
    return programs is not None and set(programs) <= set(now)


def program_name(uow: UnitOfWork, org_id: str, programs: list[str] | None) -> str | None:
    if not programs or len(programs) != 1:
        return None
    return uow.session.execute(text(
        "SELECT name FROM programs WHERE program_id = CAST(:p AS uuid) AND org_id = CAST(:o AS uuid)"),
        {"p": programs[0], "o": org_id}).scalar()


def link_claims(org_id: str, user_id: str, report: str, programs: list[str] | None, **extra) -> dict:
    return {"org": org_id, "user": user_id, "report": report, "programs": programs, **extra}


def link_event(settings: ReportsSettings, uow: UnitOfWork, org_id: str, recipient: Recipient, report: str,
               now: datetime, scheduled: bool, **extra) -> dict:
    """The `reporting.report.ready.v1` payload of one link."""
    expires = now + timedelta(hours=settings.link_ttl_hours)
    token = links.sign(settings.link_key, links.DOWNLOAD,
                       link_claims(org_id, recipient.user_id, report, recipient.programs, **extra), expires)
    return {"org_id": org_id, "user_id": recipient.user_id, "email": recipient.email,
            "full_name": recipient.full_name, "report": report, "report_name": REPORT_NAMES[report],
            "program_name": program_name(uow, org_id, recipient.programs),
            "download_url": settings.download_link(token), "expires_at": expires.isoformat(),
            "scheduled": scheduled}


def link_events(settings: ReportsSettings, uow: UnitOfWork, org_id: str, people: list[Recipient],
                reports: list[str], now: datetime, scheduled: bool, **extra) -> list[dict]:
    return [link_event(settings, uow, org_id, person, report, now, scheduled, **extra)
            for person in people for report in reports if report in REPORT_NAMES]


EMAIL_QUOTA = "report_emails_per_org_per_hour"


def check_email_rate(uow: UnitOfWork, org_id: str, limit: int, now: datetime) -> None:
    """Count one emailed link against the organization's hour (all its admins
    together; every replica shares the row). Over `limit`: 429 TOO_MANY_REQUESTS
    with `quota`, `limit` and `retry_after_seconds` (until the hour ends); the
    refused request counts nothing (its transaction is rolled back)."""
    window = now.replace(minute=0, second=0, microsecond=0)
    params = {"org": org_id, "window": window}
    uow.session.execute(text(
        "DELETE FROM report_email_windows WHERE org_id = CAST(:org AS uuid) AND window_start < :window"), params)
    sent = uow.session.execute(text(
        "INSERT INTO report_email_windows (org_id, window_start, emails) VALUES (:org, :window, 1) "
        "ON CONFLICT (org_id, window_start) DO UPDATE SET emails = report_email_windows.emails + 1 "
        "RETURNING emails"), params).scalar()
    if sent > limit:
        retry_after = max(1, math.ceil((window + timedelta(hours=1) - now).total_seconds()))
        raise AppError(ErrorCode.TOO_MANY_REQUESTS,
                       f"at most {limit} report links an hour can be emailed to an organization's admins",
                       {"quota": EMAIL_QUOTA, "limit": limit, "retry_after_seconds": retry_after})


def export_request_for_link(uow: UnitOfWork, settings: ReportsSettings, token: str, now: datetime) -> ExportRequest:
    """What a download link opens: 404 if tampered, 410 once expired, 404 when its admin no longer holds the scope."""
    claims = links.verify(settings.link_key, links.DOWNLOAD, token, now)
    try:
        org_id, user_id, report, programs = claims["org"], claims["user"], claims["report"], claims["programs"]
    except KeyError:
        raise links.link_invalid() from None
    if report not in definitions.ORG_REPORTS:
        raise links.link_invalid()
    if not holds_scope(uow, org_id, user_id, programs):
        raise AppError(ErrorCode.NOT_FOUND, "report link not found (its admin no longer holds this scope)")
    return ExportRequest(report=report, org_id=org_id, programs=programs)
