"""reporting: the events it publishes for skills (and anyone else).

Reporting owns learning activity. It publishes what skills needs as batch
events, one per ingested batch of statements:

- every graded assessment attempt, once per statement id (consumers still
  de-duplicate by `statement_id`: events are delivered at least once);
- each learner's estimated learning hours per course as an absolute figure
  with the time of the latest activity it counts (`as_of`), so a consumer keeps
  the row with the latest `as_of` and order of arrival does not matter. When a
  late statement changes the hours without newer activity, `as_of` is the
  previous one plus a microsecond: every change has a later `as_of`.
"""
from marshmallow import Schema, fields

from contracts.registry import Event


class GradedAttempt(Schema):
    statement_id = fields.String(required=True, metadata={"description": "the sender's statement id"})
    org_id = fields.String(required=True)
    user_id = fields.String(required=True)
    course_id = fields.String(required=True)
    item_id = fields.String(required=True, metadata={"description": "the assessment (quiz or assignment item)"})
    attempt = fields.Integer(allow_none=True)
    score = fields.Float(required=True)
    max_score = fields.Float(required=True)
    passed = fields.Boolean(allow_none=True)
    attempted_at = fields.AwareDateTime(required=True)


class AttemptsGraded(Schema):
    attempts = fields.List(fields.Nested(GradedAttempt), required=True)


ATTEMPTS_GRADED = Event("reporting.attempts.graded.v1", AttemptsGraded, batch_of="attempts", public=True)


class CourseHours(Schema):
    org_id = fields.String(required=True)
    user_id = fields.String(required=True)
    course_id = fields.String(required=True)
    hours = fields.Float(required=True, metadata={"description": "estimated learning hours in the course, absolute"})
    as_of = fields.AwareDateTime(required=True, metadata={
        "description": "time of the latest activity counted (strictly later for every change of the figure)"})


class LearningHoursUpdated(Schema):
    hours = fields.List(fields.Nested(CourseHours), required=True)


LEARNING_HOURS_UPDATED = Event("reporting.learning_hours.updated.v1", LearningHoursUpdated,
                               batch_of="hours", public=True)


# ---- RPC and HTTP payloads (not events) ----------------------------------

MAX_STATEMENTS = 1000


class RejectedStatement(Schema):
    index = fields.Integer(required=True, metadata={"description": "0-based position in the request"})
    code = fields.String(required=True, metadata={
        "description": "INVALID_STATEMENT, UNKNOWN_LEARNER (not a current or former member of the token's "
                       "organization) or UNKNOWN_COURSE"})
    message = fields.String(required=True)


class ActivityResult(Schema):
    accepted = fields.Integer(required=True, metadata={"description": "statements stored now"})
    duplicates = fields.Integer(required=True, metadata={"description": "ids already stored: nothing changed"})
    rejected = fields.List(fields.Nested(RejectedStatement), required=True)


class SummarySchema(Schema):
    org_id = fields.String(required=True)
    since = fields.Date(allow_none=True, metadata={"description": "the subscription start (null: all time)"})
    enrollments = fields.Integer(required=True)
    course_enrollments = fields.Integer()
    specialization_enrollments = fields.Integer()
    learning_hours = fields.Float(required=True, metadata={"description": "estimated, from sessions (2 decimals)"})
    learning_hours_estimated = fields.Boolean(metadata={"description": "always true: the figure is an estimate"})
    lessons_taken = fields.Integer(required=True)
    as_of = fields.AwareDateTime()


class FunnelStage(Schema):
    invited = fields.Integer(required=True, metadata={"description": "invitations created, emailed or not"})
    joined = fields.Integer(required=True, metadata={"description": "people who joined (removed since or not)"})
    enrolled = fields.Integer(required=True, metadata={"description": "of those, people with an enrollment"})
    pending_invitations = fields.Integer(metadata={"description": "quick action: resend invites"})
    joined_not_enrolled = fields.Integer(metadata={"description": "quick action: remind to enroll"})


class ProgramFunnel(FunnelStage):
    program_id = fields.String(required=True)
    name = fields.String(required=True)
    slug = fields.String()


class FunnelSchema(FunnelStage):
    org_id = fields.String(required=True)
    programs = fields.List(fields.Nested(ProgramFunnel), required=True)
    as_of = fields.AwareDateTime()


# ---- reports (emailed links) ----------------------------------------------


class ReportReady(Schema):
    """A report link for one admin: asked for ("email me the report") or a
    scheduled run's. Messaging emails it; the link is a bearer secret for
    24 h: consumers must not keep it once the email is sent."""
    org_id = fields.String(required=True)
    user_id = fields.String(required=True)
    email = fields.String(required=True)
    full_name = fields.String(allow_none=True)
    report = fields.String(required=True, metadata={"description": "usage, membership or specialization"})
    report_name = fields.String(required=True, metadata={"description": "e.g. Usage report"})
    program_name = fields.String(allow_none=True, metadata={"description": "when the report is for one program"})
    download_url = fields.String(required=True)
    expires_at = fields.AwareDateTime(required=True)
    scheduled = fields.Boolean(required=True, metadata={"description": "from the organization's report schedule"})


REPORT_READY = Event("reporting.report.ready.v1", ReportReady)
