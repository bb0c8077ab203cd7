"""Reports (docs/api.md "Reporting"; docs/reporting.md "Reports"): the
Usage, Membership and Specialization CSVs, a course's gradebooks, "email me
the report" and the emailed download links.

The gateway decides who may ask and for which programs (org admins: all, or
`?program_id=`; program admins: theirs), then asks reporting over RPC for a
one-minute export ticket and streams the CSV from reporting's internal
export server chunk by chunk (`stream_export`): nothing is held in memory
and no gateway worker waits for the whole file. API tokens read the CSVs
with the scope `reports:read` (as an org admin of their organization);
emailing is for people."""
import http.client
import logging
from urllib.parse import urlsplit

from marshmallow import Schema, fields, validate
from werkzeug.wrappers import Response

from contracts.errors import AppError, ErrorCode
from contracts.fields import Id
from gateway.auth import Principal
from gateway.http import PUBLIC, route
from gateway.routes import Routes

log = logging.getLogger(__name__)
CHUNK_BYTES = 256 * 1024
UPSTREAM_TIMEOUT_SECONDS = 60.0  # between two chunks from reporting
CSV = {200: ("the CSV (UTF-8 with BOM), streamed", "text/csv", None)}
REPORTS = ("usage", "membership", "specialization")


class ReportQuery(Schema):
    program_id = Id(load_default=None, allow_none=True, not_found="program",
                    metadata={"description": "only this program (one the caller administers)"})


class EmailBody(Schema):
    report = fields.String(required=True, validate=validate.OneOf(REPORTS))
    program_id = Id(load_default=None, allow_none=True, not_found="program")


class EmailSent(Schema):
    report = fields.String(required=True)
    email = fields.String(required=True, metadata={"description": "where the link was sent"})
    expires_at = fields.AwareDateTime(required=True, metadata={"description": "the link works until then (24 h)"})


def stream_export(target: dict) -> Response:
    """Proxy reporting's export server: status and headers first, then the
    body as it arrives (chunked to the client)."""
    url = urlsplit(target["url"])
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=UPSTREAM_TIMEOUT_SECONDS)
    try:
        conn.request("GET", url.path)
        upstream = conn.getresponse()
    except OSError:
        conn.close()
        raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "the report export is not reachable; retry") from None
    if upstream.status != 200:
        upstream.read()
        conn.close()
        if upstream.status == 410:
            raise AppError(ErrorCode.REPORT_LINK_EXPIRED, "the export ticket expired; retry")
        raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "the report export failed; retry")

    def body():
        try:
            while True:
                chunk = upstream.read1(CHUNK_BYTES) if hasattr(upstream, "read1") else upstream.read(CHUNK_BYTES)
                if not chunk:
                    break
                yield chunk
        finally:
            conn.close()  # also when the client goes away: reporting's export ends with it

    return Response(body(), status=200, direct_passthrough=True, headers={
        "Content-Type": upstream.getheader("Content-Type", "text/csv; charset=utf-8"),
        "Content-Disposition": f'attachment; filename="{target["filename"]}"',
        "Cache-Control": "no-store",
    })


class ReportsRoutes(Routes):
    def _programs(self, principal: Principal, org_id: str, program_id: str | None) -> list[str] | None:
        """The programs the export covers: the caller's scope, narrowed to `program_id`."""
        allowed = principal.program_scope(org_id)  # 404 unless an admin of the org
        if program_id is None:
            return allowed
        if allowed is not None and program_id not in allowed:
            raise AppError(ErrorCode.NOT_FOUND, "program not found")
        return [program_id]

    def _org_report(self, call, org_id: str, report: str) -> Response:
        programs = self._programs(call.principal, org_id, call.query.get("program_id"))
        if programs == []:
            raise AppError(ErrorCode.NOT_FOUND, "organization not found")  # a program admin of no program
        return stream_export(self.reporting.report_export(org_id, report, programs))

    @route("GET", "/v1/orgs/{org_id}/reports/usage.csv", query=ReportQuery, scope="reports:read", tags=("reports",),
           content_type="text/csv", responses=CSV, summary="Usage report: one row per course enrollment")
    def usage_report(self, call, org_id):
        return self._org_report(call, org_id, "usage")

    @route("GET", "/v1/orgs/{org_id}/reports/membership.csv", query=ReportQuery, scope="reports:read",
           tags=("reports",), content_type="text/csv", responses=CSV,
           summary="Membership report: one row per person per program")
    def membership_report(self, call, org_id):
        return self._org_report(call, org_id, "membership")

    @route("GET", "/v1/orgs/{org_id}/reports/specialization.csv", query=ReportQuery, scope="reports:read",
           tags=("reports",), content_type="text/csv", responses=CSV,
           summary="Specialization report: one row per specialization enrollment")
    def specialization_report(self, call, org_id):
        return self._org_report(call, org_id, "specialization")

    def _gradebook(self, call, program_id: str, course_id: str, report: str) -> Response:
        program = self.scope.program(call.principal, program_id)
        return stream_export(self.reporting.report_export(program["org_id"], report, None, program["id"], course_id))

    @route("GET", "/v1/programs/{program_id}/courses/{course_id}/gradebook/assessment_attempts.csv",
           scope="reports:read", tags=("reports",), content_type="text/csv", responses=CSV,
           summary="Every graded assessment attempt of the program's learners in the course")
    def gradebook_attempts(self, call, program_id, course_id):
        return self._gradebook(call, program_id, course_id, "assessment_attempts")

    @route("GET", "/v1/programs/{program_id}/courses/{course_id}/gradebook/gradebook.csv",
           scope="reports:read", tags=("reports",), content_type="text/csv", responses=CSV,
           summary="Each learner's best score (%) per graded item of the course, and the course grade")
    def gradebook(self, call, program_id, course_id):
        return self._gradebook(call, program_id, course_id, "gradebook")

    @route("POST", "/v1/orgs/{org_id}/reports/email", body=EmailBody, response=EmailSent, status=202,
           tags=("reports",), errors=("TOO_MANY_REQUESTS",),
           summary="Email me the report: a link valid 24 hours, for my scope now (at most "
                   "REPORT_EMAILS_PER_ORG_PER_HOUR an hour per organization: 429 with Retry-After)")
    def email_report(self, call, org_id):
        programs = self._programs(call.principal, org_id, call.body.get("program_id"))
        if programs == []:
            raise AppError(ErrorCode.NOT_FOUND, "organization not found")
        return self.reporting.email_report(org_id, call.principal.user_id, call.body["report"], programs,
                                           call.principal.email, None)

    @route("GET", "/v1/reports/download/{token}", auth=PUBLIC, tags=("reports",), content_type="text/csv",
           responses=CSV, errors=("REPORT_LINK_EXPIRED",),
           summary="The file of an emailed report link (404 if altered or its admin lost the scope; 410 once expired)")
    def download_report(self, call, token):
        if len(token) > 4096:
            raise AppError(ErrorCode.NOT_FOUND, "report link not found")
        return stream_export(self.reporting.open_report_link(token))


