"""programs' tables, and the rules that belong to one row of them (unit-tested
without a database in tests/test_rules.py). Ids follow the kit's convention
(servicekit.models): PostgreSQL uuid, canonical strings in Python; an id that
is not a UUID names nothing (services/programs/boundary.py). Catalog ids are
the catalog's own (text), user and invitation ids other services' (text)."""
import secrets
from datetime import date, datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
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

from contracts.errors import AppError, ErrorCode, invalid
from contracts.programs import MemberState
from servicekit.models import created_column, id_column, uuid_column

SLUG_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


class Base(DeclarativeBase):
    pass


# Made by hand in migration 0001 (no model can declare it): the members search's trigram index.
UNMANAGED_DB_OBJECTS = {"memberships_search"}


# ---------------------------------------------------------------- catalog


class CatalogItem:
    """What courses and specializations both carry (the catalog's own text ids)."""
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    partner: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)


class Course(CatalogItem, Base):
    __tablename__ = "courses"
    item_count: Mapped[int] = mapped_column(Integer, server_default="0")
    lesson_count: Mapped[int] = mapped_column(Integer, server_default="0")
    graded_item_count: Mapped[int] = mapped_column(Integer, server_default="0")
    estimated_hours: Mapped[float] = mapped_column(Float, server_default="0")
    class_start_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("courses_name", "name", "id"),)


class Specialization(CatalogItem, Base):
    __tablename__ = "specializations"
    course_ids: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    __table_args__ = (Index("specializations_name", "name", "id"),)


# ---------------------------------------------------------------- contracts and programs


class Contract(Base):
    __tablename__ = "contracts"
    id: Mapped[str] = id_column()
    org_id: Mapped[str] = uuid_column(index=True)
    name: Mapped[str] = mapped_column(String(200))
    license_count: Mapped[int] = mapped_column(Integer)
    # Kept in step with MEMBER rows under this row's lock (joins serialize on it).
    licenses_used: Mapped[int] = mapped_column(Integer, server_default="0")
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = created_column()
    __table_args__ = (Index("contracts_org_name", "org_id", func.lower(name), unique=True),)

    def is_active(self, on: date) -> bool:
        return self.starts_on <= on <= self.ends_on

    @property
    def licenses_free(self) -> int:
        return max(self.license_count - self.licenses_used, 0)

    def change(self, changes: dict) -> list[str]:
        """Apply `changes` (validated fields); the names that really changed.
        The dates stay ordered and the count never goes below the licenses in use."""
        starts_on = changes.get("starts_on", self.starts_on)
        ends_on = changes.get("ends_on", self.ends_on)
        if ends_on < starts_on:
            raise invalid({"ends_on": ["must not be before starts_on"]})
        if changes.get("license_count", self.license_count) < self.licenses_used:
            raise AppError(ErrorCode.LICENSES_IN_USE,
                           f"{self.licenses_used} licenses are in use; the count cannot go below that",
                           {"licenses_used": self.licenses_used})
        changed = [name for name, value in changes.items() if getattr(self, name) != value]
        for name in changed:
            setattr(self, name, changes[name])
        return changed

    def take_license(self, on: date) -> None:
        """One license for a joining member (the caller holds this row's lock)."""
        if not self.is_active(on):
            raise AppError(ErrorCode.CONTRACT_NOT_ACTIVE, "the contract is not active today",
                           {"starts_on": self.starts_on.isoformat(), "ends_on": self.ends_on.isoformat()})
        if self.licenses_used >= self.license_count:
            raise AppError(ErrorCode.LICENSE_LIMIT_REACHED, "no free license left in this contract",
                           {"license_count": self.license_count})
        self.licenses_used += 1


class Program(Base):
    __tablename__ = "programs"
    id: Mapped[str] = id_column()
    org_id: Mapped[str] = uuid_column(index=True)
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

    @staticmethod
    def new_slug() -> str:
        return "program-" + "".join(secrets.choice(SLUG_ALPHABET) for _ in range(6))

    def join_url(self, public_url: str) -> str:
        return f"{public_url}/programs/{self.slug}"

    def check_enrollment_room(self, current: int) -> None:
        """A member with `current` live enrollments may take one more."""
        if self.enrollment_limit is not None and current >= self.enrollment_limit:
            raise AppError(ErrorCode.ENROLLMENT_LIMIT_REACHED,
                           f"the program allows {self.enrollment_limit} current enrollments",
                           {"enrollment_limit": self.enrollment_limit, "current": current})


class ProgramContract(Base):
    __tablename__ = "program_contracts"
    program_id: Mapped[str] = uuid_column(ForeignKey("programs.id"), primary_key=True)
    contract_id: Mapped[str] = uuid_column(ForeignKey("contracts.id"), primary_key=True, index=True)


# ---------------------------------------------------------------- curriculum


class Collection(Base):
    __tablename__ = "collections"
    id: Mapped[str] = id_column()
    org_id: Mapped[str] = uuid_column()
    program_id: Mapped[str] = uuid_column(ForeignKey("programs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_column()
    __table_args__ = (Index("collections_program_name", "program_id", func.lower(name), unique=True),)


def place_at(rows: list, moving, position: int) -> None:
    """Put `moving` at 1-based `position` among `rows` (collections of a
    program) and renumber them."""
    ordered = [r for r in rows if r is not moving]
    ordered.insert(max(0, min(position - 1, len(ordered))), moving)
    for index, row in enumerate(ordered, start=1):
        row.position = index


def order_items(items: list, item_ids: list[str]) -> None:
    """Renumber a collection's `items` in the order of `item_ids`, which must
    name every item exactly once."""
    by_id = {i.id: i for i in items}
    if sorted(item_ids) != sorted(by_id):
        raise invalid({"item_ids": ["must list every item of the collection exactly once"]})
    for index, item_id in enumerate(item_ids, start=1):
        by_id[item_id].position = index


class CollectionItem(Base):
    __tablename__ = "collection_items"
    id: Mapped[str] = id_column()
    collection_id: Mapped[str] = uuid_column(ForeignKey("collections.id", ondelete="CASCADE"))
    program_id: Mapped[str] = uuid_column(index=True)
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
    org_id: Mapped[str] = uuid_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    full_name: Mapped[str] = mapped_column(String(200))


class ScimEntitlement(Base):
    """What SCIM last told programs about a person of an organization (identity.scim.entitlements_changed.v1,
    docs/scim.md): the version applied (an event at or below it is a redelivery or older: ignored), the
    programs SCIM manages for them (those their groups mapped to while they were a member: leaving the group
    removes them) and the joins last refused (retried at the next event)."""

    __tablename__ = "scim_entitlements"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, server_default="0")
    managed: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    refused: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    updated_at: Mapped[datetime] = created_column()


class Membership(Base):
    __tablename__ = "memberships"
    id: Mapped[str] = id_column()
    org_id: Mapped[str] = uuid_column()
    program_id: Mapped[str] = uuid_column(ForeignKey("programs.id"))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    full_name: Mapped[str | None] = mapped_column(String(200))
    # The members list is ordered (sort_name, id), keyset-paginated on an index.
    sort_name: Mapped[str] = mapped_column(String(200), server_default="")
    contract_id: Mapped[str | None] = uuid_column()
    invitation_id: Mapped[str | None] = mapped_column(String(64))
    invited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    joined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_column()
    __table_args__ = (
        UniqueConstraint("program_id", "user_id", name="memberships_program_user"),
        Index("memberships_program_order", "program_id", "sort_name", "id"),
        # plus a pg_trgm GIN index on the search text, created in the migration (see SEARCH_TEXT in queries)
    )

    def check_removable(self) -> None:
        if self.state == MemberState.INVITED:
            raise AppError(ErrorCode.RULE_VIOLATION, "this person has not joined yet; revoke the invitation instead")

    def joined_with(self, invitation_id: str | None) -> bool:
        """Already a member through this invitation: joining again is idempotent."""
        return self.state == MemberState.MEMBER and bool(invitation_id) and self.invitation_id == str(invitation_id)

    def check_can_join(self) -> None:
        if self.state == MemberState.MEMBER:
            raise AppError(ErrorCode.ALREADY_MEMBER, "this person is already a member of the program")

    def join(self, contract_id: str, invitation_id: str | None, at: datetime, person: "Person | None") -> None:
        """Become a member holding a license of `contract_id`; the name and
        email follow the organization's `person` when it is known."""
        self.state = MemberState.MEMBER
        self.contract_id = contract_id
        self.invitation_id = str(invitation_id) if invitation_id else self.invitation_id
        self.joined_at = at
        self.removed_at = None
        if person is not None:
            self.email, self.full_name = person.email, person.full_name
        self.sort_name = (self.full_name or self.email or "").lower()

    def check_can_enroll(self) -> None:
        if self.state != MemberState.MEMBER:
            raise AppError(ErrorCode.NOT_A_MEMBER, "join the program before enrolling")

    def withdraw_invitation(self, invitation_id: str) -> bool | None:
        """The invitation `invitation_id` was revoked or expired. None: this row
        does not wait on that invitation (a member, or a newer invitation is
        pending); True: delete the row; False: keep it, back to DELETED_MEMBER
        (a past member who was invited again)."""
        if self.state != MemberState.INVITED or self.invitation_id not in (None, invitation_id):
            return None
        if self.removed_at is None:
            return True
        self.state = MemberState.DELETED_MEMBER
        return False


class Enrollment(Base):
    __tablename__ = "enrollments"
    id: Mapped[str] = id_column()
    org_id: Mapped[str] = uuid_column()
    program_id: Mapped[str] = uuid_column(ForeignKey("programs.id"))
    membership_id: Mapped[str] = uuid_column(ForeignKey("memberships.id"))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    course_id: Mapped[str | None] = mapped_column(String(64))
    specialization_id: Mapped[str | None] = mapped_column(String(64))
    collection_id: Mapped[str | None] = uuid_column()
    enrolled_at: Mapped[datetime] = created_column()
    downgraded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        Index("enrollments_unique", "membership_id", "kind", func.coalesce(course_id, specialization_id),
              unique=True),
    )

    @property
    def is_current(self) -> bool:
        return self.downgraded_at is None

    def start(self, collection_id: str | None, at: datetime) -> None:
        """Enrolled now (again: a rejoined member gets full access back)."""
        self.collection_id = str(collection_id) if collection_id else None
        self.enrolled_at = at
        self.downgraded_at = None
