"""skills: the query parameters and answers of its views (docs/skills.md "Views").
skills publishes no events; it consumes reporting's, identity's and programs'."""
import re
from enum import StrEnum

from marshmallow import Schema, fields, validate

from contracts.common import PageQuerySchema, text_field
from contracts.fields import Id, QueryInteger
from contracts.identity import COMPANY_SIZES, REGIONS

VIEWS = ("distribution", "hours-to-mastery", "mastery-over-time", "leaderboard", "assessments", "hours",
         "relevant-courses", "glossary", "benchmark", "benchmark-over-time")
SKILL_ID = validate.Regexp(r"^[a-z0-9-]{1,100}$", error="not a skill id")


class Level(StrEnum):
    BEGINNER = "BEGINNER"
    INTERMEDIATE = "INTERMEDIATE"
    ADVANCED = "ADVANCED"


class Quartile(StrEnum):
    LAGGING = "LAGGING"
    EMERGING = "EMERGING"
    COMPETITIVE = "COMPETITIVE"
    CUTTING_EDGE = "CUTTING_EDGE"


class ProgramFilterQuery(PageQuerySchema):
    program_id = Id(load_default=None, allow_none=True, metadata={"description": "only this program's members"})


class MasteryQuery(ProgramFilterQuery):
    since = fields.Date(load_default=None, allow_none=True, metadata={"description": "first day shown (a year ago)"})
    interval = fields.String(load_default="week", validate=validate.OneOf(["day", "week", "month"]),
                             metadata={"description": "one point per day, week (from Monday) or month"})
    limit = QueryInteger(load_default=10, validate=validate.Range(1, 50))


class LeaderboardQuery(ProgramFilterQuery):
    skill_id = fields.String(load_default=None, allow_none=True, validate=SKILL_ID)
    domain = text_field(100, load_default=None, allow_none=True)


class RelevantCoursesQuery(ProgramFilterQuery):
    per_level = QueryInteger(load_default=3, validate=validate.Range(1, 10))


class GlossaryQuery(PageQuerySchema):
    domain = text_field(100, load_default=None, allow_none=True)


class RegionField(fields.String):
    """A region as identity keeps it (EUROPE), also as people write it (Europe, north america)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return re.sub(r"[\s-]+", "_", super()._deserialize(value, attr, data, **kwargs).strip()).upper()


class BenchmarkQuery(PageQuerySchema):
    region = RegionField(load_default=None, allow_none=True, validate=validate.OneOf(REGIONS),
                         metadata={"description": "any case; spaces for underscores (Europe, north america)"})
    company_size = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(COMPANY_SIZES))
    industry = text_field(100, load_default=None, allow_none=True,
                          metadata={"description": "compared without regard to case"})


class BenchmarkOverTimeQuery(BenchmarkQuery):
    skill_id = fields.String(load_default=None, allow_none=True, validate=SKILL_ID,
                             metadata={"description": "one skill; absent: overall (the top skills' mean)"})


# ---- answers


class SkillRef(Schema):
    skill_id = fields.String(required=True)
    skill = fields.String(required=True)
    domain = fields.String(required=True)


class DistributionItem(SkillRef):
    learners = fields.Integer(required=True)
    beginner = fields.Integer(required=True)
    intermediate = fields.Integer(required=True)
    advanced = fields.Integer(required=True)


class LevelHours(Schema):
    learners = fields.Integer(required=True)
    median_hours = fields.Float(allow_none=True)


class HoursToMasteryItem(SkillRef):
    beginner = fields.Nested(LevelHours, required=True)
    intermediate = fields.Nested(LevelHours, required=True)
    advanced = fields.Nested(LevelHours, required=True)


class MasteryPoint(Schema):
    date = fields.String(required=True)
    intermediate = fields.Integer(required=True)
    advanced = fields.Integer(required=True)


class MasteryItem(SkillRef):
    series = fields.List(fields.Nested(MasteryPoint), required=True)


class LeaderboardItem(SkillRef):
    user_id = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    level = fields.String(required=True)
    score = fields.Float(required=True)
    anonymized = fields.Boolean(required=True)


class AssessmentsItem(SkillRef):
    total = fields.Integer(required=True)
    learners = fields.Integer(required=True)
    average = fields.Float(required=True)


class HoursItem(SkillRef):
    learners = fields.Integer(required=True)
    total_hours = fields.Float(required=True)
    average_hours = fields.Float(required=True)


class CourseRef(Schema):
    course_id = fields.String(required=True)
    name = fields.String(required=True)
    relevance = fields.Float(required=True)


class RelevantCoursesItem(SkillRef):
    beginner = fields.List(fields.Nested(CourseRef), required=True)
    intermediate = fields.List(fields.Nested(CourseRef), required=True)
    advanced = fields.List(fields.Nested(CourseRef), required=True)


class GlossaryItem(SkillRef):
    definition = fields.String(required=True)
    sub_skills = fields.List(fields.String(), required=True)


class Rank(Schema):
    score = fields.Float(allow_none=True)
    peers = fields.Integer(required=True)
    group_too_small = fields.Boolean(required=True)
    percentile_rank = fields.Float(allow_none=True)
    quartile = fields.String(allow_none=True)
    group_average = fields.Float(allow_none=True)
    status = fields.String(required=True, metadata={"description": "OK, GROUP_TOO_SMALL or NO_SCORE"})


class Overall(Rank):
    skills = fields.List(fields.String(), required=True)


class BenchmarkItem(SkillRef, Rank):
    learners = fields.Integer(required=True)


class ReferenceGroup(Schema):
    region = fields.String(allow_none=True)
    company_size = fields.String(allow_none=True)
    industry = fields.String(allow_none=True)


class BenchmarkAnswer(Schema):
    reference_group = fields.Nested(ReferenceGroup, required=True)
    organizations_in_group = fields.Integer(required=True)
    minimum_group_size = fields.Integer(required=True)
    overall = fields.Nested(Overall, required=True)
    items = fields.List(fields.Nested(BenchmarkItem), required=True)
    next_cursor = fields.String(allow_none=True)


class BenchmarkMonth(Rank):
    month = fields.String(required=True)


class BenchmarkOverTimeAnswer(Schema):
    reference_group = fields.Nested(ReferenceGroup, required=True)
    skill_id = fields.String(allow_none=True)
    skills = fields.List(fields.String(), allow_none=True)
    minimum_group_size = fields.Integer(required=True)
    items = fields.List(fields.Nested(BenchmarkMonth), required=True)
    next_cursor = fields.String(allow_none=True)
