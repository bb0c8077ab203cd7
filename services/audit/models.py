"""audit's tables: the entries (one hash chain per organization), the head
of each chain (the row an append locks), and the checkpoints a retention
purge leaves at its boundary. The rules of one entry (what its hash covers)
live here, without I/O; services/audit/chain.py walks a chain."""
import hashlib
import hmac
import json
from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Index, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from servicekit.models import id_column, uuid_column

# Entries that belong to no organization (a failed sign-in for an unknown
# address, an account registered on its own) form the platform's chain.
PLATFORM_ORG = "00000000-0000-0000-0000-000000000000"
GENESIS = "0" * 64  # the previous hash of a chain's first entry
# The trigger that refuses UPDATE and DELETE lets a transaction through only
# when it has set this (the retention purge, services/audit/commands/retention.py).
PURGE_SETTING = "audit.purge"

# The functions and triggers 0001 creates by hand (no model declares them).
UNMANAGED_DB_OBJECTS: set[str] = set()  # triggers and their function: Alembic does not compare them


class Base(DeclarativeBase):
    pass


def canonical_time(value: datetime) -> str:
    """A timestamp as the hash covers it: UTC, microseconds, always the same text."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value) -> bytes:
    """Sorted keys, no spaces, UTF-8: one byte string per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                      default=str).encode("utf-8")


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    id: Mapped[str] = id_column()
    org_id: Mapped[str] = uuid_column(nullable=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    event_id: Mapped[str] = uuid_column(nullable=False)
    event_type: Mapped[str] = mapped_column(String(120), nullable=False)
    action: Mapped[str] = mapped_column(String(100), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    actor_kind: Mapped[str] = mapped_column(String(20), nullable=False)
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_label: Mapped[str | None] = mapped_column(String(320))
    target_type: Mapped[str] = mapped_column(String(50), nullable=False)
    target_id: Mapped[str | None] = mapped_column(String(200))
    target_label: Mapped[str | None] = mapped_column(Text)
    program_id: Mapped[str | None] = uuid_column()
    changes: Mapped[dict | None] = mapped_column(JSONB)
    details: Mapped[dict | None] = mapped_column(JSONB)
    request_id: Mapped[str | None] = mapped_column(String(128))
    client_address: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)

    __table_args__ = (
        UniqueConstraint("org_id", "seq", name="audit_entries_org_seq"),
        # one entry per event and organization: a redelivered event is recorded once
        UniqueConstraint("event_id", "org_id", name="audit_entries_event_org"),
        Index("audit_entries_org_time", "org_id", "occurred_at", "id"),
        Index("audit_entries_org_actor_time", "org_id", "actor_id", "occurred_at", "id"),
        Index("audit_entries_org_target_time", "org_id", "target_id", "occurred_at", "id"),
        Index("audit_entries_org_program_time", "org_id", "program_id", "occurred_at", "id"),
    )

    def hashed_fields(self) -> dict:
        """Everything the entry says, as the hash covers it (all but the hash)."""
        return {
            "id": self.id, "org_id": self.org_id, "seq": self.seq, "event_id": self.event_id,
            "event_type": self.event_type, "action": self.action,
            "occurred_at": canonical_time(self.occurred_at), "recorded_at": canonical_time(self.recorded_at),
            "actor_kind": self.actor_kind, "actor_id": self.actor_id, "actor_label": self.actor_label,
            "target_type": self.target_type, "target_id": self.target_id, "target_label": self.target_label,
            "program_id": self.program_id, "changes": self.changes, "details": self.details,
            "request_id": self.request_id, "client_address": self.client_address, "prev_hash": self.prev_hash,
        }

    def compute_hash(self) -> str:
        """SHA-256 over the canonical JSON of the entry (its previous hash included)."""
        return hashlib.sha256(canonical_json(self.hashed_fields())).hexdigest()

    def seal(self, prev_hash: str) -> None:
        self.prev_hash = prev_hash
        self.hash = self.compute_hash()


class AuditHead(Base):
    """The end of one organization's chain: appends lock this row (FOR UPDATE),
    so the entries of one organization are chained one at a time."""
    __tablename__ = "audit_heads"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False, server_default=GENESIS)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class AuditActor(Base):
    """Who an actor id is, as the events have told: a person's email, an API
    token's name (a label for the entries they make; not part of any chain)."""
    __tablename__ = "audit_actors"
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(320), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class AuditCheckpoint(Base):
    """Where a retention purge cut an organization's chain: the last purged
    entry's seq and hash (the first kept entry's prev_hash), signed with
    AUDIT_CHECKPOINT_SECRET so the cut cannot be moved unnoticed."""
    __tablename__ = "audit_checkpoints"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = uuid_column(nullable=False, index=True)
    through_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    through_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    through_occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    purged: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    signature: Mapped[str] = mapped_column(String(64), nullable=False)

    __table_args__ = (UniqueConstraint("org_id", "through_seq", name="audit_checkpoints_org_seq"),)

    def signed_fields(self) -> dict:
        return {"org_id": self.org_id, "through_seq": self.through_seq, "through_hash": self.through_hash,
                "through_occurred_at": canonical_time(self.through_occurred_at), "purged": self.purged,
                "created_at": canonical_time(self.created_at)}

    def compute_signature(self, secret: str) -> str:
        return hmac.new(secret.encode("utf-8"), canonical_json(self.signed_fields()), hashlib.sha256).hexdigest()

    def sign(self, secret: str) -> None:
        self.signature = self.compute_signature(secret)

    def signed_by(self, secret: str) -> bool:
        return hmac.compare_digest(self.signature, self.compute_signature(secret))
