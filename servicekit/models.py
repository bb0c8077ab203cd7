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

from sqlalchemy import DateTime, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import mapped_column

from contracts.common import normalize_email
from contracts.errors import not_found

__all__ = ["created_column", "id_column", "new_id", "normalize_email", "parse_uuid", "require_uuid", "uuid_column"]


def new_id() -> str:
    return str(uuid.uuid4())


def uuid_column(*args, **kwargs):
    """A UUID column (a foreign id, or with `primary_key=True` an id)."""
    return mapped_column(UUID(as_uuid=False), *args, **kwargs)


def id_column(**kwargs):
    """The primary key: a UUID the application generates."""
    return uuid_column(primary_key=True, default=new_id, **kwargs)


def created_column(**kwargs):
    """When the row was created, set by the database."""
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False, **kwargs)


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
