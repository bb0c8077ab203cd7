"""reporting's report entrypoints (a mixin of ReportingService): thin, as
every service's: load, call one function, dump.

The gateway has checked who may ask (role, scope, `?program_id=`) and passes
the organization and the programs the caller may see (None: all); these
entrypoints check again that what is named belongs to the organization."""
import logging

from marshmallow import Schema, ValidationError, fields, validate

from contracts.errors import AppError, ErrorCode, invalid, not_found
from contracts.reporting import REPORT_READY
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from servicekit.entrypoints import rpc, settings_timer
from servicekit.service import ServiceSettings
from services.reporting.reports import definitions, delivery, runs
from services.reporting.reports.export import ExportRequest
from services.reporting.reports.server import ExportServer
from services.reporting.reports.settings import ReportsSettings

log = logging.getLogger(__name__)


class ExportQuery(Schema):
    org_id = fields.UUID(required=True)
    report = fields.String(required=True, validate=validate.OneOf(definitions.ORG_REPORTS + definitions.COURSE_REPORTS))
    programs = fields.List(fields.UUID(), allow_none=True, load_default=None)
    program_id = fields.UUID(allow_none=True, load_default=None)
    course_id = fields.String(allow_none=True, load_default=None, validate=validate.Length(1, 64))


class EmailQuery(Schema):
    org_id = fields.UUID(required=True)
    user_id = fields.UUID(required=True)
    report = fields.String(required=True, validate=validate.OneOf(definitions.ORG_REPORTS))
    programs = fields.List(fields.UUID(), allow_none=True, load_default=None)
    email = fields.Email(allow_none=True, load_default=None)
    full_name = fields.String(allow_none=True, load_default=None)


def load(schema: Schema, data: dict) -> dict:
    try:
        loaded = schema.load(data)
    except ValidationError as exc:
        raise invalid(exc.messages) from None
    return {k: ([str(x) for x in v] if isinstance(v, list) else str(v) if k.endswith("_id") and v else v)
            for k, v in loaded.items()}


def check_programs(uow: UnitOfWork, org_id: str, programs: list[str] | None) -> None:
    """Every program named is one of the organization's (else 404: not theirs)."""
    if not programs:
        return
    from sqlalchemy import text

    found = uow.session.execute(text(
        "SELECT count(*) FROM programs WHERE org_id = CAST(:org AS uuid) AND program_id = ANY(CAST(:p AS uuid[]))"),
        {"org": org_id, "p": programs}).scalar()
    if found != len(set(programs)):
        raise not_found("program")


class ReportsEntrypoints:
    reports_settings = ServiceSettings(ReportsSettings)
    exports = ExportServer()

    @rpc
    def report_export(self, org_id, report, programs=None, program_id=None, course_id=None):
        """A URL the gateway streams this export from (valid a minute), and its file name."""
        q = load(ExportQuery(), {"org_id": org_id, "report": report, "programs": programs,
                                 "program_id": program_id, "course_id": course_id})
        if q["report"] in definitions.COURSE_REPORTS:
            if not q["program_id"] or not q["course_id"]:
                raise invalid({"course_id": ["a gradebook is of one program's course"]})
            check_programs(self.db, q["org_id"], [q["program_id"]])
            request = ExportRequest(q["report"], q["org_id"], program_id=q["program_id"], course_id=q["course_id"])
        else:
            check_programs(self.db, q["org_id"], q["programs"])
            request = ExportRequest(q["report"], q["org_id"], programs=q["programs"])
        return {"url": self.exports.ticket_url(request), "filename": request.filename}

    @rpc
    def email_report(self, org_id, user_id, report, programs=None, email=None, full_name=None):
        """Email the admin a link to the report for these programs (None: all), valid 24 h."""
        q = load(EmailQuery(), {"org_id": org_id, "user_id": user_id, "report": report, "programs": programs,
                                "email": email, "full_name": full_name})
        check_programs(self.db, q["org_id"], q["programs"])
        delivery.check_email_rate(self.db, q["org_id"], self.reports_settings.email_links_per_hour, utcnow())
        known = delivery.admin_scopes(self.db, q["org_id"], q["user_id"])
        address = known[0].email if known else q["email"]
        if not address:
            raise AppError(ErrorCode.RULE_VIOLATION, "no email address is known for this admin")
        recipient = delivery.Recipient(q["user_id"], address, known[0].full_name if known else q["full_name"],
                                       q["programs"])
        payload = delivery.link_event(self.reports_settings, self.db, q["org_id"], recipient, q["report"], utcnow(),
                                      scheduled=False)
        self.db.publish(REPORT_READY, payload, org_id=q["org_id"])
        return {"report": q["report"], "email": address, "expires_at": payload["expires_at"]}

    @rpc
    def open_report_link(self, token):
        """Where an emailed link's file streams from: 404 if tampered or its
        admin lost the scope, 410 once expired."""
        if not isinstance(token, str):
            raise not_found("report link")
        request = delivery.export_request_for_link(self.db, self.reports_settings, token, utcnow())
        return {"url": self.exports.ticket_url(request), "filename": request.filename}

    @settings_timer(ReportsSettings, lambda s: s.schedule_interval)
    def run_report_schedules(self):
        runs.tick(lambda: UnitOfWork(self.db.independent_session, self.db.source), self.reports_settings)
