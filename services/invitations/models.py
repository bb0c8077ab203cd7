"""invitations' own tables: invitations, bulk import jobs with their rejected
rows, and a projection of program memberships (fed by programs' events)."""
import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, LargeBinary, String, Text, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


def new_id() -> str:
    return str(uuid.uuid4())


def uuid_column(**kwargs):
    return mapped_column(UUID(as_uuid=False), **kwargs)


class Invitation(Base):
    __tablename__ = "invitations"
    id: Mapped[str] = uuid_column(primary_key=True, default=new_id)
    org_id: Mapped[str] = uuid_column()
    program_id: Mapped[str] = uuid_column()
    contract_id: Mapped[str] = uuid_column()
    user_id: Mapped[str] = uuid_column()
    # trimmed and lower-cased (rule 1)
    email: Mapped[str] = mapped_column(String(254))
    full_name: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="PENDING")
    # sha256 of the emailed token: the raw token is never stored
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    send_email: Mapped[bool] = mapped_column(Boolean)
    invited_by: Mapped[str | None] = uuid_column()
    import_id: Mapped[str | None] = uuid_column()
    import_row: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    send_count: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    close_reason: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        # one pending invitation per program and email: duplicates are refused by the database
        Index("invitations_one_pending", "program_id", "email", unique=True,
              postgresql_where=text("state = 'PENDING'")),
        # a crashed import re-run never inserts a row twice
        Index("invitations_import_row", "import_id", "import_row", unique=True,
              postgresql_where=text("import_id IS NOT NULL")),
        Index("invitations_pending_expiry", "expires_at", postgresql_where=text("state = 'PENDING'")),
        Index("invitations_program_list", "program_id", "created_at", "id"),
        Index("invitations_program_user", "program_id", "user_id"),
    )


class ImportJob(Base):
    """A CSV upload and its progress. The worker holding `lease_until` owns it;
    progress (`next_row` and the counts) commits with each batch."""

    __tablename__ = "import_jobs"
    id: Mapped[str] = uuid_column(primary_key=True, default=new_id)
    org_id: Mapped[str] = uuid_column()
    program_id: Mapped[str] = uuid_column()
    program_name: Mapped[str] = mapped_column(String(200))
    contract_id: Mapped[str] = uuid_column()
    send_email: Mapped[bool] = mapped_column(Boolean)
    invited_by: Mapped[str | None] = uuid_column()
    custom_message: Mapped[str | None] = mapped_column(Text)
    filename: Mapped[str | None] = mapped_column(String(255))
    # The uploaded file: loaded only by the import worker, not by status reads.
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    error: Mapped[str | None] = mapped_column(Text)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    # the file record number to continue from (header = 1)
    next_record: Mapped[int] = mapped_column(Integer, default=2)
    created: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    invalid: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(String(36))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("import_jobs_open", "created_at", postgresql_where=text("status IN ('PENDING', 'RUNNING')")),
    )


class RejectedRow(Base):
    """A row of an import that created nothing: invalid or duplicate, with why."""

    __tablename__ = "import_rejected_rows"
    import_id: Mapped[str] = uuid_column(primary_key=True)
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    full_name: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))  # INVALID or DUPLICATE
    reason: Mapped[str] = mapped_column(Text)


class Member(Base):
    """Current members of programs, from programs' joined/removed events: lets a
    bulk import count 'already a member' without one RPC per row."""

    __tablename__ = "program_members"
    program_id: Mapped[str] = uuid_column(primary_key=True)
    user_id: Mapped[str] = uuid_column(primary_key=True)
