"""Learning activity in (learning platforms, with an API token of scope
`activity:write`) and the admin home (summary, funnel), served by the
reporting service (docs/reporting.md).

Activity is always the token's own organization's: the organization comes
from the token, never from the body. Admin-home reads are scoped like other
organization routes: org admins see every program, program admins theirs
(`Principal.program_scope`), anyone else the 404 of an unknown organization."""

from marshmallow import Schema, fields, validate

from contracts.errors import AppError, ErrorCode
from contracts.reporting import MAX_STATEMENTS, ActivityResult, FunnelSchema, SummarySchema
from gateway.http import MACHINE, Reply, check_json_strings, may_hold_non_text, parse_json, read_raw_json, route
from gateway.routes import Routes

ACTIVITY_SCOPE = "activity:write"
# 1,000 statements of a few hundred bytes each, xAPI ones larger
MAX_ACTIVITY_BYTES = 4 * 1024 * 1024
XAPI_VERSION_HEADER = "X-Experience-API-Version"
XAPI_VERSIONS = ("1.0.0", "1.0.1", "1.0.2", "1.0.3")


class StatementList(fields.List):
    """A list of statements passed on as they are: reporting checks each one on its own. (fields.List
    would run every item through its field, a copy that costs more than reporting's whole check.) A null
    item is refused as fields.List(fields.Raw()) refuses it."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, list) and None not in value:
            return value
        return super()._deserialize(value, attr, data, **kwargs)


class ActivityBody(Schema):
    statements = StatementList(fields.Raw(), required=True, validate=validate.Length(1, MAX_STATEMENTS), metadata={
        "description": f"at most {MAX_STATEMENTS} native statements (docs/api.md \"Activity\"); each is checked "
                       "on its own"})


class XapiAnswer(Schema):
    ids = fields.List(fields.String())


def read_xapi_body(request) -> object:
    """A statement or a list of statements, as JSON (the shared loader takes objects only)."""
    raw = read_raw_json(request, MAX_ACTIVITY_BYTES)
    data = parse_json(raw)
    if not isinstance(data, dict | list):
        raise AppError(ErrorCode.INVALID_INPUT, "send a statement or a list of statements",
                       {"_schema": ["expected an object or a list"]})
    check_json_strings(data, strings=may_hold_non_text(raw))
    return data


class ReportingRoutes(Routes):
    # ---- activity in
    @route("POST", "/v1/activity", auth=MACHINE, scope=ACTIVITY_SCOPE, body=ActivityBody, response=ActivityResult,
           max_bytes=MAX_ACTIVITY_BYTES, tags=("activity",),
           summary="Send learning activity: native statements, idempotent by id, each accepted or rejected on its own")
    def send_activity(self, call):
        return self.reporting.ingest_activity(call.principal.api_org_id, call.body["statements"])

    @route("POST", "/v1/xapi/statements", auth=MACHINE, scope=ACTIVITY_SCOPE, tags=("activity",),
           errors=("CONFLICT",), responses={200: ("The statement ids, in order", "application/json", XapiAnswer)},
           summary="Send xAPI 1.0.3 statements (a statement or a list; header X-Experience-API-Version); all or "
                   "nothing; answers the list of statement ids (docs/reporting.md has the subset)")
    def send_xapi_statements(self, call):
        version = call.request.headers.get(XAPI_VERSION_HEADER, "")
        if version not in XAPI_VERSIONS:
            raise AppError(ErrorCode.INVALID_INPUT, f"send the header {XAPI_VERSION_HEADER}: 1.0.3",
                           {XAPI_VERSION_HEADER: [f"one of {', '.join(XAPI_VERSIONS)}"]})
        ids = self.reporting.ingest_xapi(call.principal.api_org_id, read_xapi_body(call.request))
        return Reply(ids, 200, {XAPI_VERSION_HEADER: "1.0.3"})

    # ---- admin home
    @route("GET", "/v1/orgs/{org_id}/summary", response=SummarySchema, tags=("reporting",),
           summary="Enrollments, estimated learning hours and lessons taken since the subscription start "
                   "(program admins: their programs)")
    def org_summary(self, call, org_id):
        return self.reporting.summary(org_id, call.principal.program_scope(org_id))

    @route("GET", "/v1/orgs/{org_id}/funnel", response=FunnelSchema, tags=("reporting",),
           summary="Usage funnel: invited → joined → enrolled, overall and per program (program admins: theirs)")
    def org_funnel(self, call, org_id):
        return self.reporting.funnel(org_id, call.principal.program_scope(org_id))
