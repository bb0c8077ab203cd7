"""programs' tables. Ids are uuid4 strings (text), so an id from a URL that is
not a uuid is simply not found, never a database error."""
import uuid
from datetime import date, datetime

from sqlalchemy import (
    ARRAY,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


def new_id() -> str:
    return str(uuid.uuid4())


def id_column():
    return mapped_column(String(36), primary_key=True, default=new_id)


def created_column():
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


# ---------------------------------------------------------------- catalog


class Course(Base):
    __tablename__ = "courses"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    partner: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    item_count: Mapped[int] = mapped_column(Integer, server_default="0")
    lesson_count: Mapped[int] = mapped_column(Integer, server_default="0")
    graded_item_count: Mapped[int] = mapped_column(Integer, server_default="0")
    estimated_hours: Mapped[float] = mapped_column(Float, server_default="0")
    class_start_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("courses_name", "name", "id"),)


class Specialization(Base):
    __tablename__ = "specializations"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    partner: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    course_ids: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    __table_args__ = (Index("specializations_name", "name", "id"),)


# ---------------------------------------------------------------- contracts and programs


class Contract(Base):
    __tablename__ = "contracts"
    id: Mapped[str] = id_column()
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    license_count: Mapped[int] = mapped_column(Integer)
    # Kept in step with MEMBER rows under this row's lock (joins serialize on it).
    licenses_used: Mapped[int] = mapped_column(Integer, server_default="0")
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = created_column()
    __table_args__ = (Index("contracts_org_name", "org_id", func.lower(name), unique=True),)


class Program(Base):
    __tablename__ = "programs"
    id: Mapped[str] = id_column()
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    tagline: Mapped[str | None] = mapped_column(String(300))
    banner_url: Mapped[str | None] = mapped_column(Text)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    enrollment_limit: Mapped[int | None] = mapped_column(Integer)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_column()
    __table_args__ = (
        Index("programs_org_name", "org_id", func.lower(name), unique=True,
              postgresql_where=text("removed_at IS NULL")),
    )


class ProgramContract(Base):
    __tablename__ = "program_contracts"
    program_id: Mapped[str] = mapped_column(String(36), ForeignKey("programs.id"), primary_key=True)
    contract_id: Mapped[str] = mapped_column(String(36), ForeignKey("contracts.id"), primary_key=True, index=True)


# ---------------------------------------------------------------- curriculum


class Collection(Base):
    __tablename__ = "collections"
    id: Mapped[str] = id_column()
    org_id: Mapped[str] = mapped_column(String(64))
    program_id: Mapped[str] = mapped_column(String(36), ForeignKey("programs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_column()
    __table_args__ = (Index("collections_program_name", "program_id", func.lower(name), unique=True),)


class CollectionItem(Base):
    __tablename__ = "collection_items"
    id: Mapped[str] = id_column()
    collection_id: Mapped[str] = mapped_column(String(36), ForeignKey("collections.id", ondelete="CASCADE"))
    program_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    course_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("courses.id"))
    specialization_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("specializations.id"))
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_column()
    __table_args__ = (
        Index("collection_items_unique", "collection_id", "kind", func.coalesce(course_id, specialization_id),
              unique=True),
    )


# ---------------------------------------------------------------- people, memberships, enrollments


class Person(Base):
    """Who a user id is in an organization: a projection of identity's
    profile events and of invitations (names for the members list)."""

    __tablename__ = "people"
    org_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    full_name: Mapped[str] = mapped_column(String(200))


class Membership(Base):
    __tablename__ = "memberships"
    id: Mapped[str] = id_column()
    org_id: Mapped[str] = mapped_column(String(64))
    program_id: Mapped[str] = mapped_column(String(36), ForeignKey("programs.id"))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    full_name: Mapped[str | None] = mapped_column(String(200))
    # The members list is ordered (sort_name, id), keyset-paginated on an index.
    sort_name: Mapped[str] = mapped_column(String(200), server_default="")
    contract_id: Mapped[str | None] = mapped_column(String(36))
    invitation_id: Mapped[str | None] = mapped_column(String(64))
    invited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    joined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_column()
    __table_args__ = (
        UniqueConstraint("program_id", "user_id", name="memberships_program_user"),
        Index("memberships_program_order", "program_id", "sort_name", "id"),
        # plus a pg_trgm GIN index on the search text, created in the migration (see SEARCH_TEXT in domain)
    )


class Enrollment(Base):
    __tablename__ = "enrollments"
    id: Mapped[str] = id_column()
    org_id: Mapped[str] = mapped_column(String(64))
    program_id: Mapped[str] = mapped_column(String(36), ForeignKey("programs.id"))
    membership_id: Mapped[str] = mapped_column(String(36), ForeignKey("memberships.id"))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    course_id: Mapped[str | None] = mapped_column(String(64))
    specialization_id: Mapped[str | None] = mapped_column(String(64))
    collection_id: Mapped[str | None] = mapped_column(String(36))
    enrolled_at: Mapped[datetime] = created_column()
    downgraded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        Index("enrollments_unique", "membership_id", "kind", func.coalesce(course_id, specialization_id),
              unique=True),
    )
