"""reporting's tables: projections of other services' events (people,
organizations, programs, contracts, memberships, invitations, enrollments,
catalog) and the learning activity it owns (statements and the figures
derived from them). No I/O here; see docs/reporting.md and
/work/wt/NOTES-reporting.md for what each column means.

Ids of other services are UUIDs (`uuid`); catalog ids (courses,
specializations) and the sender's item/lesson ids are text. Learning time is
kept in whole microseconds (`*_us`, bigint) so that sums are exact and do not
depend on the order statements arrived in."""
from datetime import date, datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from servicekit.models import OrgProfileColumns, now_column, uuid_column

SESSION_GAP_SECONDS = 60 * 60  # a gap longer than this ends a session (domain.md)


class Base(DeclarativeBase):
    pass


UNMANAGED_DB_OBJECTS: set[str] = set()



# ---------------------------------------------------------------- projections: identity


class Org(Base):
    """An organization (identity.org.created / updated)."""
    __tablename__ = "orgs"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str | None] = mapped_column(String(64))
    subscription_start: Mapped[date | None] = mapped_column(Date)
    report_schedule: Mapped[dict | None] = mapped_column(JSONB)
    settings: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    updated_at: Mapped[datetime] = now_column()


class Account(Base):
    """A person's account (identity.user(s).registered): the fallback name."""
    __tablename__ = "accounts"
    user_id: Mapped[str] = uuid_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    full_name: Mapped[str | None] = mapped_column(String(200))


class Person(OrgProfileColumns, Base):
    """A person's organization profile (identity.profile(s).updated). `full_name`
    is the name the organization sees (its own where set, else the account's)."""
    __tablename__ = "people"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    user_id: Mapped[str] = uuid_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254))
    updated_at: Mapped[datetime] = now_column()
    __table_args__ = (Index("people_email", "org_id", "email"),)


class Admin(Base):
    """An admin role (identity.admin.granted / revoked): who receives scheduled reports."""
    __tablename__ = "admins"
    admin_id: Mapped[str] = uuid_column(primary_key=True)
    org_id: Mapped[str] = uuid_column(index=True)
    user_id: Mapped[str] = uuid_column()
    email: Mapped[str] = mapped_column(String(254))
    full_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    program_ids: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")


# ---------------------------------------------------------------- projections: programs


class Program(Base):
    __tablename__ = "programs"
    program_id: Mapped[str] = uuid_column(primary_key=True)
    org_id: Mapped[str] = uuid_column(index=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(200))
    contract_ids: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_column()


class Contract(Base):
    __tablename__ = "contracts"
    contract_id: Mapped[str] = uuid_column(primary_key=True)
    org_id: Mapped[str] = uuid_column(index=True)
    name: Mapped[str] = mapped_column(String(200))
    license_count: Mapped[int] = mapped_column(Integer)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)


class Membership(Base):
    """A person in a program: INVITED, MEMBER or DELETED_MEMBER (history kept)."""
    __tablename__ = "memberships"
    program_id: Mapped[str] = uuid_column(primary_key=True)
    user_id: Mapped[str] = uuid_column(primary_key=True)
    org_id: Mapped[str] = uuid_column()
    membership_id: Mapped[str | None] = uuid_column()
    state: Mapped[str] = mapped_column(String(20))
    contract_id: Mapped[str | None] = uuid_column()
    invitation_id: Mapped[str | None] = uuid_column()
    email: Mapped[str | None] = mapped_column(String(254))
    full_name: Mapped[str | None] = mapped_column(String(200))
    invited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    joined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("memberships_org_user", "org_id", "user_id"),
                      Index("memberships_org_email", "org_id", "email"))


class Invitation(Base):
    """Every invitation created, emailed or not (the funnel's first stage)."""
    __tablename__ = "invitations"
    invitation_id: Mapped[str] = uuid_column(primary_key=True)
    org_id: Mapped[str] = uuid_column()
    program_id: Mapped[str] = uuid_column()
    contract_id: Mapped[str | None] = uuid_column()
    user_id: Mapped[str | None] = uuid_column()
    email: Mapped[str | None] = mapped_column(String(254))
    full_name: Mapped[str | None] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20))  # PENDING, ACCEPTED, REVOKED, EXPIRED
    send_email: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    import_id: Mapped[str | None] = uuid_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("invitations_org_program", "org_id", "program_id"),)


class Enrollment(Base):
    """A member's enrollment in a course or specialization of a program."""
    __tablename__ = "enrollments"
    enrollment_id: Mapped[str] = uuid_column(primary_key=True)
    org_id: Mapped[str] = uuid_column()
    program_id: Mapped[str] = uuid_column()
    user_id: Mapped[str] = uuid_column()
    kind: Mapped[str] = mapped_column(String(20))  # COURSE or SPECIALIZATION
    course_id: Mapped[str | None] = mapped_column(String(64))
    specialization_id: Mapped[str | None] = mapped_column(String(64))
    collection_id: Mapped[str | None] = uuid_column()
    item_name: Mapped[str | None] = mapped_column(String(200))
    item_slug: Mapped[str | None] = mapped_column(String(200))
    enrolled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    downgraded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("enrollments_org_program", "org_id", "program_id", "user_id"),
                      Index("enrollments_org_user_course", "org_id", "user_id", "course_id"))


class Course(Base):
    """Catalog reference data, fetched from programs (RPC get_courses) on first sight."""
    __tablename__ = "courses"
    course_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(200))
    partner: Mapped[str] = mapped_column(String(200))
    item_count: Mapped[int] = mapped_column(Integer, server_default="0")
    lesson_count: Mapped[int] = mapped_column(Integer, server_default="0")
    graded_item_count: Mapped[int] = mapped_column(Integer, server_default="0")
    class_start_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refreshed_at: Mapped[datetime] = now_column()


class Specialization(Base):
    __tablename__ = "specializations"
    specialization_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    slug: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    partner: Mapped[str] = mapped_column(String(200))
    course_ids: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    refreshed_at: Mapped[datetime] = now_column()


class Collection(Base):
    """A collection of a program's curriculum (programs.collection.changed.v1): the
    reports' Enrollment Source. A deleted collection keeps its name (its enrollments still name it)."""
    __tablename__ = "collections"
    collection_id: Mapped[str] = uuid_column(primary_key=True)
    org_id: Mapped[str] = uuid_column()
    program_id: Mapped[str] = uuid_column()
    name: Mapped[str] = mapped_column(String(200))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# ---------------------------------------------------------------- learning activity (owned)


class Statement(Base):
    """One learning statement (native or xAPI), stored once per (org, id).

    `credit_us`: the time credited to this statement's course: the gap to the
    learner's previous statement (order: ts, statement_id) when it is at most
    60 minutes, else 0. `session_start`: the gap was over 60 minutes (or there
    is no previous statement). Both are recomputed for the later statements of
    a learner when one arrives late, so they always equal a sorted replay."""
    __tablename__ = "statements"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    statement_id: Mapped[str] = uuid_column(primary_key=True)
    user_id: Mapped[str] = uuid_column()
    verb: Mapped[str] = mapped_column(String(16))  # started, completed, graded, viewed
    object_type: Mapped[str] = mapped_column(String(8))  # item or course
    item_id: Mapped[str | None] = mapped_column(String(500))
    course_id: Mapped[str] = mapped_column(String(64))
    lesson_id: Mapped[str | None] = mapped_column(String(500))
    item_type: Mapped[str | None] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float)
    max_score: Mapped[float | None] = mapped_column(Float)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    attempt: Mapped[int | None] = mapped_column(Integer)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(8))  # native or xapi
    digest: Mapped[str | None] = mapped_column(String(64))  # xAPI: the statement's content hash (409 on change)
    credit_us: Mapped[int | None] = mapped_column(BigInteger)
    session_start: Mapped[bool | None] = mapped_column(Boolean)
    stored_at: Mapped[datetime] = now_column()
    __table_args__ = (
        Index("statements_learner_time", "org_id", "user_id", "ts", "statement_id"),
        Index("statements_graded", "org_id", "course_id", "user_id", postgresql_where=text("verb = 'graded'")),
    )


class ItemName(Base):
    """The name a learning platform gives an item (native `object.name`, xAPI
    `object.definition.name`): the gradebooks' Assessment. The latest statement's name wins."""
    __tablename__ = "item_names"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    course_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(500), primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    named_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Learner(Base):
    """Per learner (org, user): estimated learning hours, sessions, activity
    span. Its row is also the lock that orders concurrent batches of one learner."""
    __tablename__ = "learners"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    user_id: Mapped[str] = uuid_column(primary_key=True)
    hours_us: Mapped[int] = mapped_column(BigInteger, server_default="0")
    sessions: Mapped[int] = mapped_column(Integer, server_default="0")
    statements: Mapped[int] = mapped_column(Integer, server_default="0")
    first_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("learners_last_activity", "org_id", "last_activity_at"),)


class LearnerCourse(Base):
    """Per learner and course, whether or not enrolled through a program: what
    the usage report shows for each course enrollment of that learner."""
    __tablename__ = "learner_courses"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    user_id: Mapped[str] = uuid_column(primary_key=True)
    course_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hours_us: Mapped[int] = mapped_column(BigInteger, server_default="0")
    statements: Mapped[int] = mapped_column(Integer, server_default="0")
    first_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    items_completed: Mapped[int] = mapped_column(Integer, server_default="0")  # distinct items
    lessons_taken: Mapped[int] = mapped_column(Integer, server_default="0")  # distinct lessons with an item completed
    graded_items: Mapped[int] = mapped_column(Integer, server_default="0")  # distinct graded items attempted
    grade_pct: Mapped[float | None] = mapped_column(Float)  # mean of the best score % per graded item
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # first course `completed`
    # LEARNING_HOURS_UPDATED's as_of: the latest activity counted, a microsecond later than the
    # previous as_of when a late statement changed the hours (so a consumer's "latest wins" takes it)
    hours_as_of: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("learner_courses_completed", "org_id", "course_id",
                            postgresql_where=text("completed_at IS NOT NULL")),)


class LearnerItem(Base):
    """Per learner and item: first completion, best graded score, attempts."""
    __tablename__ = "learner_items"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    user_id: Mapped[str] = uuid_column(primary_key=True)
    course_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(500), primary_key=True)
    lesson_id: Mapped[str | None] = mapped_column(String(500))
    item_type: Mapped[str | None] = mapped_column(String(16))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    best_pct: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LearnerLesson(Base):
    """A lesson taken: a lesson with an item completed (first time)."""
    __tablename__ = "learner_lessons"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    user_id: Mapped[str] = uuid_column(primary_key=True)
    course_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    lesson_id: Mapped[str] = mapped_column(String(500), primary_key=True)
    first_completed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("learner_lessons_org_time", "org_id", "first_completed_at"),)


class CourseDay(Base):
    """Learning time per learner, course and UTC day (of the later statement of
    each interval): the summary's hours since the subscription start."""
    __tablename__ = "course_days"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[str] = uuid_column(primary_key=True)
    course_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hours_us: Mapped[int] = mapped_column(BigInteger, server_default="0")


# ---------------------------------------------------------------- the admin home's counters (home.py)


class HomeFunnel(Base):
    """Per program: the funnel's counts, kept by the event handlers (home.counted)."""
    __tablename__ = "home_funnel"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    program_id: Mapped[str] = uuid_column(primary_key=True)
    invited: Mapped[int] = mapped_column(Integer, server_default="0")
    pending: Mapped[int] = mapped_column(Integer, server_default="0")
    joined: Mapped[int] = mapped_column(Integer, server_default="0")
    enrolled: Mapped[int] = mapped_column(Integer, server_default="0")
    joined_not_enrolled: Mapped[int] = mapped_column(Integer, server_default="0")


class HomeEnrollmentDay(Base):
    """Per program and UTC day: enrollments made (the summary's, since the subscription start)."""
    __tablename__ = "home_enrollment_days"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    program_id: Mapped[str] = uuid_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    course_enrollments: Mapped[int] = mapped_column(Integer, server_default="0")
    specialization_enrollments: Mapped[int] = mapped_column(Integer, server_default="0")


class HomeActivityDay(Base):
    """Per UTC day and shard: the organization's learning time and lessons taken (ingestion's deltas)."""
    __tablename__ = "home_activity_days"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    hours_us: Mapped[int] = mapped_column(BigInteger, server_default="0")
    lessons: Mapped[int] = mapped_column(Integer, server_default="0")


class HomeProgramCourse(Base):
    """A (program, learner, course) its enrollments cover: whose activity counts for the program's admins."""
    __tablename__ = "home_program_courses"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    user_id: Mapped[str] = uuid_column(primary_key=True)
    course_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    program_id: Mapped[str] = uuid_column(primary_key=True)


class HomeProgramDay(Base):
    """Per program, UTC day and shard: learning time and lessons taken in the courses its enrollments cover."""
    __tablename__ = "home_program_days"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    program_id: Mapped[str] = uuid_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    hours_us: Mapped[int] = mapped_column(BigInteger, server_default="0")
    lessons: Mapped[int] = mapped_column(Integer, server_default="0")


class HomeProgramOverlap(Base):
    """How many (learner, course) pairs two programs both cover (program_a < program_b)."""
    __tablename__ = "home_program_overlaps"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    program_a: Mapped[str] = uuid_column(primary_key=True)
    program_b: Mapped[str] = uuid_column(primary_key=True)
    pairs: Mapped[int] = mapped_column(Integer, server_default="0")


# The reports' own tables (services/reporting/reports/models.py) on this Base, so that autogenerate sees them.
from services.reporting.reports import models as _reports_models  # noqa: E402,F401
