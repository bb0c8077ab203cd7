"""skills' tables, and the rules of one row (no I/O).

Three groups:
- the taxonomy (domains, skills, course-to-skill tags, the courses and
  specializations it names), loaded from a file (commands/taxonomy.py);
- projections of other services' facts, fed by events: organizations
  (reference-group fields, `anonymize_leaderboard`), people (names for the
  leaderboard), program members and curricula, graded attempts (one row per
  statement id: exactly once) and learning hours per course;
- what skills derives: assessment difficulties (the calibrated snapshot), one
  rating per learner and skill, and the aggregates the views answer from
  (skill_stats, hours_histogram, mastery_days, benchmark_snapshots).

Org ids are PostgreSQL uuid (the kit's convention); user ids are identity's
and kept as text, as programs does; catalog ids are the catalog's own (text)."""
from datetime import date, datetime

from sqlalchemy import (
    ARRAY,
    Boolean,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from servicekit.models import uuid_column


class Base(DeclarativeBase):
    pass


LEVEL_ORDER = {"ADVANCED": 1, "INTERMEDIATE": 2, "BEGINNER": 3}  # the leaderboard's order

# ---------------------------------------------------------------- taxonomy


class Domain(Base):
    __tablename__ = "domains"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    description: Mapped[str | None] = mapped_column(Text)


class Skill(Base):
    __tablename__ = "skills"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    domain: Mapped[str] = mapped_column(String(100))
    definition: Mapped[str] = mapped_column(Text)
    sub_skills: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    __table_args__ = (Index("skills_domain_name", "domain", "name"),)


class TaxonomyCourse(Base):
    """A course the taxonomy tags (its name, for relevant-courses)."""
    __tablename__ = "courses"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class CourseSkill(Base):
    __tablename__ = "course_skills"
    course_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    skill_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    relevance: Mapped[float] = mapped_column(Float)  # (0, 1]: the weight of the course's attempts for the skill
    level: Mapped[str] = mapped_column(String(20))  # the level the course teaches
    __table_args__ = (Index("course_skills_skill", "skill_id", "level", "relevance"),)


class SpecializationCourse(Base):
    """A specialization's courses: a curriculum naming a specialization offers its courses."""
    __tablename__ = "specialization_courses"
    specialization_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    course_id: Mapped[str] = mapped_column(String(64), primary_key=True)


# ---------------------------------------------------------------- projections


class Org(Base):
    """An organization's reference-group fields (identity's settings). No name:
    peers are only ever shown as aggregates."""
    __tablename__ = "orgs"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    region: Mapped[str | None] = mapped_column(String(40))
    company_size: Mapped[str | None] = mapped_column(String(20))
    industry: Mapped[str | None] = mapped_column(String(100))
    anonymize_leaderboard: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    synthetic: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))  # demo peers
    as_of: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # the applied event's time


class Person(Base):
    __tablename__ = "people"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    full_name: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)


class ProgramMember(Base):
    __tablename__ = "program_members"
    program_id: Mapped[str] = uuid_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = uuid_column()
    __table_args__ = (Index("program_members_user", "org_id", "user_id"),)


class ProgramCurriculum(Base):
    """The latest curriculum event applied per program (events may arrive out of order)."""
    __tablename__ = "program_curricula"
    program_id: Mapped[str] = uuid_column(primary_key=True)
    org_id: Mapped[str] = uuid_column(index=True)
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    removed: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class ProgramCourse(Base):
    __tablename__ = "program_courses"
    program_id: Mapped[str] = uuid_column(primary_key=True)
    course_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = uuid_column()
    __table_args__ = (Index("program_courses_org", "org_id", "course_id"),)


class Learner(Base):
    """One row per learner: its lock serializes every update of the learner's ratings."""
    __tablename__ = "learners"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class Attempt(Base):
    """A graded assessment attempt, once per statement id."""
    __tablename__ = "attempts"
    statement_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    org_id: Mapped[str] = uuid_column()
    user_id: Mapped[str] = mapped_column(String(64))
    course_id: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[str] = mapped_column(String(200))
    fraction: Mapped[float] = mapped_column(Float)  # score / max_score, in [0, 1]
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (Index("attempts_received", "received_at"),
                      Index("attempts_learner", "org_id", "user_id", "course_id", "attempted_at", "statement_id"),
                      Index("attempts_item", "item_id", "attempted_at"))


class CourseHours(Base):
    __tablename__ = "course_hours"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    course_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hours: Mapped[float] = mapped_column(Float)
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# ---------------------------------------------------------------- derived


class Assessment(Base):
    """An assessment's difficulty in the current snapshot (changed only by a calibration)."""
    __tablename__ = "assessments"
    item_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    rating: Mapped[float] = mapped_column(Float)
    deviation: Mapped[float] = mapped_column(Float)
    volatility: Mapped[float] = mapped_column(Float)
    calibrated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Calibration(Base):
    __tablename__ = "calibrations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cutoff: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # attempts up to here were used
    assessments: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer)
    learner_skills: Mapped[int] = mapped_column(Integer)


class LearnerSkill(Base):
    """A learner's rating in one skill (null until a graded attempt counts) and
    learning hours in the skill's courses."""
    __tablename__ = "learner_skills"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    skill_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    rating: Mapped[float | None] = mapped_column(Float)
    deviation: Mapped[float | None] = mapped_column(Float)
    volatility: Mapped[float | None] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float)
    level: Mapped[str | None] = mapped_column(String(20))
    level_order: Mapped[int | None] = mapped_column(SmallInteger)  # LEVEL_ORDER: the leaderboard's sort key
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # the last applied attempt's key
    last_statement: Mapped[str | None] = mapped_column(String(200))
    intermediate_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # first reached
    advanced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hours: Mapped[float] = mapped_column(Float, server_default="0")
    __table_args__ = (
        Index("learner_skills_board", "org_id", "skill_id", "level_order", "user_id",
              postgresql_where=text("level_order IN (1, 2)")),
        Index("learner_skills_org_skill", "org_id", "skill_id"),
    )


class SkillStats(Base):
    """Per organization and skill, kept current with every learner-skill change."""
    __tablename__ = "skill_stats"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    skill_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    learners: Mapped[int] = mapped_column(Integer, server_default="0")  # holding a score
    beginner: Mapped[int] = mapped_column(Integer, server_default="0")
    intermediate: Mapped[int] = mapped_column(Integer, server_default="0")
    advanced: Mapped[int] = mapped_column(Integer, server_default="0")
    score_sum: Mapped[float] = mapped_column(Float, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    hours_learners: Mapped[int] = mapped_column(Integer, server_default="0")  # with hours > 0
    hours_sum: Mapped[float] = mapped_column(Float, server_default="0")
    __table_args__ = (Index("skill_stats_skill", "skill_id"),)


class _LevelCounts:
    """Learners of an organization's skill at a level, by a fourth key (the subclass's)."""
    org_id: Mapped[str] = uuid_column(primary_key=True, sort_order=-4)
    skill_id: Mapped[str] = mapped_column(String(100), primary_key=True, sort_order=-3)
    level: Mapped[str] = mapped_column(String(20), primary_key=True, sort_order=-2)
    learners: Mapped[int] = mapped_column(Integer, server_default="0", sort_order=1)


class HoursHistogram(_LevelCounts, Base):
    """Learners holding a level with learning hours in the skill, by hours bucket (medians)."""
    __tablename__ = "hours_histogram"
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)


class MasteryDay(_LevelCounts, Base):
    """Learners who first reached a level on a day (UTC)."""
    __tablename__ = "mastery_days"
    day: Mapped[date] = mapped_column(Date, primary_key=True)


class BenchmarkSnapshot(Base):
    """An organization's average score per skill in a month (the month's last refresh)."""
    __tablename__ = "benchmark_snapshots"
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    org_id: Mapped[str] = uuid_column(primary_key=True)
    skill_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    average: Mapped[float] = mapped_column(Float)
    learners: Mapped[int] = mapped_column(Integer)
    __table_args__ = (Index("benchmark_snapshots_skill", "skill_id", "org_id", "month"),)
