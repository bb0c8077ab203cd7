"""invitations' own tables: invitations, bulk import jobs with their rejected
rows, and a projection of program memberships (fed by programs' events)."""
import hashlib
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ARRAY, BigInteger, Boolean, DateTime, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from contracts.errors import AppError, ErrorCode
from contracts.invitations import ImportStatus, InvitationState
from servicekit.models import created_column, id_column, uuid_column

PENDING_ONLY = text(f"state = '{InvitationState.PENDING}'")


class Base(DeclarativeBase):
    pass


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_token() -> str:
    """A link's secret: emailed once, stored only as its hash."""
    return secrets.token_urlsafe(32)


class Invitation(Base):
    __tablename__ = "invitations"
    id: Mapped[str] = id_column()
    org_id: Mapped[str] = uuid_column()
    program_id: Mapped[str] = uuid_column()
    contract_id: Mapped[str] = uuid_column()
    user_id: Mapped[str] = uuid_column()
    # trimmed and lower-cased (rule 1)
    email: Mapped[str] = mapped_column(String(254))
    full_name: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default=InvitationState.PENDING)
    # sha256 of the emailed token: the raw token is never stored
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    send_email: Mapped[bool] = mapped_column(Boolean)
    invited_by: Mapped[str | None] = uuid_column()
    import_id: Mapped[str | None] = uuid_column()
    import_row: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    send_count: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    close_reason: Mapped[str | None] = mapped_column(String(32))

    # ---- rules (plain attributes: unit-tested without a database)
    def closed_error(self) -> AppError:
        """Why an invitation that is no longer pending cannot be used."""
        if self.state == InvitationState.ACCEPTED:
            return AppError(ErrorCode.INVITATION_USED, "this invitation has already been accepted")
        if self.state == InvitationState.REVOKED:
            return AppError(ErrorCode.INVITATION_REVOKED, "this invitation has been withdrawn")
        return AppError(ErrorCode.INVITATION_EXPIRED, "this invitation has expired; ask for a new one")

    def require_pending(self) -> None:
        if self.state != InvitationState.PENDING:
            raise self.closed_error()

    def is_expired(self, at: datetime) -> bool:
        """Past its expiry, even before the expiry job has marked it EXPIRED."""
        return self.expires_at <= at

    def require_usable(self, at: datetime) -> None:
        """Pending and not past its expiry: it can still be accepted."""
        self.require_pending()
        if self.is_expired(at):
            raise AppError(ErrorCode.INVITATION_EXPIRED, "this invitation has expired; ask for a new one")

    def renew_link(self, token_hash: str, at: datetime, ttl: timedelta) -> None:
        """A resend: a new link (the old one stops working) and a fresh expiry."""
        self.require_pending()
        self.token_hash = token_hash
        self.expires_at = at + ttl
        self.last_sent_at = at
        self.send_count = (self.send_count or 0) + 1

    def revoke(self, at: datetime, reason: str) -> None:
        self.require_pending()
        self._close(InvitationState.REVOKED, at, reason)

    def accept(self, at: datetime) -> None:
        self._close(InvitationState.ACCEPTED, at, "ACCEPTED")

    def _close(self, state: str, at: datetime, reason: str) -> None:
        self.state, self.closed_at, self.close_reason = state, at, reason

    __table_args__ = (
        # one pending invitation per program and email: duplicates are refused by the database
        Index("invitations_one_pending", "program_id", "email", unique=True,
              postgresql_where=PENDING_ONLY),
        # a crashed import re-run never inserts a row twice
        Index("invitations_import_row", "import_id", "import_row", unique=True,
              postgresql_where=text("import_id IS NOT NULL")),
        Index("invitations_pending_expiry", "expires_at", postgresql_where=PENDING_ONLY),
        Index("invitations_program_list", "program_id", "created_at", "id"),
        Index("invitations_program_user", "program_id", "user_id"),
        # a person's pending invitations of an organization (SCIM deprovisioning revokes them; migration 0003)
        Index("invitations_pending_person", "org_id", "user_id", postgresql_where=PENDING_ONLY),
    )


class ImportJob(Base):
    """A CSV upload and its progress. The worker holding `lease_until` owns it;
    progress (`next_row` and the counts) commits with each batch."""

    __tablename__ = "import_jobs"
    id: Mapped[str] = id_column()
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
    status: Mapped[str] = mapped_column(String(16), default=ImportStatus.PENDING)
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
    created_at: Mapped[datetime] = created_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def failed_too_often(self, max_attempts: int) -> bool:
        """Claimed more times than a healthy import needs: it keeps crashing its worker."""
        return self.attempts > max_attempts

    __table_args__ = (
        Index("import_jobs_open", "created_at",
              postgresql_where=text(f"status IN ('{ImportStatus.PENDING}', '{ImportStatus.RUNNING}')")),
    )


class Rejection(StrEnum):
    """Why an import row created nothing."""
    INVALID = "INVALID"
    DUPLICATE = "DUPLICATE"


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


class ScimEntitlement(Base):
    """What SCIM last told invitations about a person of an organization (identity.scim.entitlements_changed.v1,
    docs/scim.md): the version applied (an event at or below it is ignored) and the programs SCIM invited them
    to (an unverified account is invited, not joined: the trust rule)."""

    __tablename__ = "scim_entitlements"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    user_id: Mapped[str] = uuid_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, server_default="0")
    invited: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    updated_at: Mapped[datetime] = created_column()
