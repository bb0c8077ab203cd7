"""reporting: the events it publishes for skills (and anyone else).

Reporting owns learning activity. It publishes what skills needs as batch
events, one per ingested batch of statements:

- every graded assessment attempt, once per statement id (consumers still
  de-duplicate by `statement_id`: events are delivered at least once);
- each learner's estimated learning hours per course as an absolute figure
  with the time of the latest activity it counts (`as_of`), so a consumer keeps
  the row with the latest `as_of` and order of arrival does not matter.
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
    as_of = fields.AwareDateTime(required=True, metadata={"description": "time of the latest activity counted"})


class LearningHoursUpdated(Schema):
    hours = fields.List(fields.Nested(CourseHours), required=True)


LEARNING_HOURS_UPDATED = Event("reporting.learning_hours.updated.v1", LearningHoursUpdated,
                               batch_of="hours", public=True)
