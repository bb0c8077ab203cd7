"""What every service's models share: the id convention, the UUID guard and
email normalisation.

Ids are UUIDs, stored as PostgreSQL `uuid` and handled in Python as their
canonical string (`UUID(as_uuid=False)`): that is what travels on the wire
and in events, so nothing converts back and forth.

    class Base(DeclarativeBase):
        pass

    class Invitation(Base):
        __tablename__ = "invitations"
        id: Mapped[str] = id_column()
        program_id: Mapped[str] = uuid_column(index=True)
"""
import uuid

from sqlalchemy import DateTime, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from contracts.common import normalize_email
from contracts.errors import not_found

__all__ = ["OrgProfileColumns", "created_column", "id_column", "new_id", "normalize_email", "now_column", "parse_uuid",
           "require_uuid", "uuid_column"]


def new_id() -> str:
    return str(uuid.uuid4())


def uuid_column(*args, **kwargs):
    """A UUID column (a foreign id, or with `primary_key=True` an id)."""
    return mapped_column(UUID(as_uuid=False), *args, **kwargs)


def id_column(**kwargs):
    """The primary key: a UUID the application generates."""
    return uuid_column(primary_key=True, default=new_id, **kwargs)


def now_column(**kwargs):
    """A timestamp the database sets to now() when the row is inserted."""
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False, **kwargs)


created_column = now_column  # when the row was created


class OrgProfileColumns:
    """A person's profile in one organization (the reports' profile columns): identity's
    `profiles` table owns it and reporting's `people` projection copies it, column for column."""
    full_name: Mapped[str | None] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(200))
    manager_name: Mapped[str | None] = mapped_column(String(200))
    manager_email: Mapped[str | None] = mapped_column(String(254))
    job_title: Mapped[str | None] = mapped_column(String(200))
    job_type: Mapped[str | None] = mapped_column(String(200))
    business_unit: Mapped[str | None] = mapped_column(String(200))
    business_unit_2: Mapped[str | None] = mapped_column(String(200))
    location_city: Mapped[str | None] = mapped_column(String(200))
    location_country: Mapped[str | None] = mapped_column(String(200))
    location_region: Mapped[str | None] = mapped_column(String(200))


def parse_uuid(value) -> str | None:
    """The canonical form of a UUID, or None for anything else: an id that is
    not a UUID names nothing (and must not reach a `uuid` column: that is a
    database error, a 500)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def require_uuid(value, what: str) -> str:
    """`parse_uuid`, with NOT_FOUND (`what` not found) for a non-UUID."""
    parsed = parse_uuid(value)
    if parsed is None:
        raise not_found(what)
    return parsed
