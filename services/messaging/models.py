"""messaging's tables: its projection of the other services' facts (fed by
events), admin messages, deliveries and email preferences."""
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from contracts.errors import AppError, ErrorCode, invalid
from contracts.fields import FieldCode, text_problem
from contracts.messaging import DeliveryState, EmailCategory, MessageState
from servicekit.models import created_column, id_column, uuid_column

PENDING_DELIVERY_STATES = (DeliveryState.QUEUED, DeliveryState.CLAIMED, DeliveryState.SENDING)


class Base(DeclarativeBase):
    pass


# ---- projection (ids are the other services' ids, stored as text) ----------


class Org(Base):
    __tablename__ = "orgs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    brand_color: Mapped[str | None] = mapped_column(String(7))
    logo_url: Mapped[str | None] = mapped_column(Text)


class Person(Base):
    """Someone known in an organization (profile, admin, member or invitee)."""

    __tablename__ = "people"
    org_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    full_name: Mapped[str] = mapped_column(String(200))


class Program(Base):
    __tablename__ = "programs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    join_url: Mapped[str | None] = mapped_column(Text)
    removed: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class Membership(Base):
    __tablename__ = "memberships"
    program_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    contract_id: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class Invitation(Base):
    __tablename__ = "invitations"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    program_id: Mapped[str] = mapped_column(String(64), index=True)
    contract_id: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(254))
    full_name: Mapped[str | None] = mapped_column(String(200))
    pending: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class Enrollment(Base):
    __tablename__ = "enrollments"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    program_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    course_id: Mapped[str | None] = mapped_column(String(64))
    specialization_id: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class Preference(Base):
    """Opt-outs, by email address (what the unsubscribe link knows)."""

    __tablename__ = "email_preferences"
    email: Mapped[str] = mapped_column(String(254), primary_key=True)
    program_messages: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    course_announcements: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    updated_at: Mapped[datetime] = created_column()

    FIELDS = ("program_messages", "course_announcements")

    @staticmethod
    def view(pref: "Preference | None") -> dict:
        """Someone with no row receives everything."""
        return {name: getattr(pref, name) if pref is not None else True for name in Preference.FIELDS}


# ---- admin messages and deliveries ------------------------------------------


class Message(Base):
    __tablename__ = "messages"
    id: Mapped[str] = id_column()
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(16), server_default=MessageState.DRAFT)
    created_by: Mapped[str] = mapped_column(String(64))
    author_email: Mapped[str] = mapped_column(String(254))
    author_name: Mapped[str] = mapped_column(String(200))
    # Programs the author could target when writing it (NULL: the whole organization). A record
    # only: update, preview and send check the scope the caller has at that moment.
    program_scope: Mapped[list[str] | None] = mapped_column(ARRAY(String(64)))
    audience: Mapped[dict] = mapped_column(JSONB)
    subject: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    content_format: Mapped[str] = mapped_column(String(16))
    cta: Mapped[dict | None] = mapped_column(JSONB)
    sender_name: Mapped[str | None] = mapped_column(String(100))
    reply_to: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Counts when it completed: its deliveries may be purged later (DELIVERY_RETENTION_DAYS).
    final_counts: Mapped[dict | None] = mapped_column(JSONB)

    EDITABLE = ("audience", "subject", "content", "content_format", "cta", "sender_name", "reply_to")

    @staticmethod
    def check_text(fields: dict) -> None:
        """What an admin writes: subject, sender name and button label on one
        line, no control characters in the content but line breaks and tabs.
        The contracts' rule (`contracts.fields.text_problem`), checked here too
        so that a caller other than the gateway is refused alike (INVALID_INPUT)."""
        def problem(value, multi_line=False):
            found = text_problem(value, max_length=len(value), multi_line=multi_line, allow_blank=True)
            return None if found is None or found.code in (FieldCode.TOO_LONG, FieldCode.BLANK) else str(found)

        errors = {}
        for key in ("subject", "sender_name"):
            if fields.get(key) and (found := problem(fields[key])):
                errors[key] = [found]
        if fields.get("content") and (found := problem(fields["content"], multi_line=True)):
            errors["content"] = [found]
        label = (fields.get("cta") or {}).get("label")
        if label and (found := problem(label)):
            errors["cta"] = {"label": [found]}
        if errors:
            raise invalid(errors, "text with control characters")

    def visible_to(self, org_id: str, viewer: dict) -> bool:
        """Org admins see their organization's messages; program admins their own."""
        if self.state == MessageState.DISCARDED or self.org_id != org_id:
            return False
        return viewer.get("program_scope") is None or self.created_by == viewer.get("user_id")

    def require_draft(self, action: str) -> None:
        if self.state != MessageState.DRAFT:
            raise AppError(ErrorCode.MESSAGE_NOT_EDITABLE, f"only a draft can be {action}", {"state": self.state})

    def change(self, changes: dict, at: datetime) -> None:
        self.require_draft("changed")
        self.check_text(changes)
        for key in self.EDITABLE:
            if key in changes:
                setattr(self, key, changes[key])
        self.updated_at = at

    def discard(self, at: datetime) -> None:
        self.require_draft("discarded")
        self.state = MessageState.DISCARDED
        self.updated_at = at

    def start_sending(self, at: datetime) -> None:
        if self.state != MessageState.DRAFT:
            raise AppError(ErrorCode.MESSAGE_NOT_EDITABLE, "this message was already sent", {"state": self.state})
        self.state = MessageState.SENDING
        self.sent_at = at

    def from_name(self) -> str:
        return self.sender_name or self.author_name

    def reply_address(self, no_reply: str) -> str:
        """Replies reach the author, or nobody (reply-to off)."""
        return self.author_email if self.reply_to else no_reply

    @staticmethod
    def counts(by_state: dict[str, int]) -> dict:
        """Delivery counts of a message from its number of deliveries in each state."""
        return {"recipients": sum(by_state.values()),
                "queued": sum(by_state.get(s, 0) for s in PENDING_DELIVERY_STATES),
                "sent": by_state.get(DeliveryState.SENT, 0), "suppressed": by_state.get(DeliveryState.SUPPRESSED, 0),
                "failed": by_state.get(DeliveryState.FAILED, 0)}


# Which deliveries the sender claims first: account emails (a password reset, a verification never
# waits behind an organization's mail) and the rare email of no organization. The others (SHARED) are
# claimed fairly across organizations. SQL conditions: the claim queries and their indexes share them.
FIRST = f"(category = '{EmailCategory.ACCOUNT}' OR org_id IS NULL)"
SHARED = f"(category <> '{EmailCategory.ACCOUNT}' AND org_id IS NOT NULL)"
DUE = f"state = '{DeliveryState.QUEUED}'"


class Delivery(Base):
    """One email to one recipient. `source_key` (the event id, message id or
    request id that caused it) makes a redelivered event a no-op."""

    __tablename__ = "deliveries"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    org_id: Mapped[str | None] = mapped_column(String(64))
    source_key: Mapped[str] = mapped_column(String(100))
    template: Mapped[str] = mapped_column(String(50))
    category: Mapped[str] = mapped_column(String(20))  # ACCOUNT, INVITATION, PROGRAM, COURSE
    message_id: Mapped[str | None] = uuid_column(index=True)
    recipient: Mapped[str] = mapped_column(String(254))
    user_id: Mapped[str | None] = mapped_column(String(64))
    full_name: Mapped[str | None] = mapped_column(String(200))
    context: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    state: Mapped[str] = mapped_column(String(16), server_default=DeliveryState.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = created_column()
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claim_token: Mapped[str | None] = mapped_column(String(36))
    smtp_message_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_column()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        UniqueConstraint("source_key", "recipient", "template", name="deliveries_once"),
        Index("deliveries_due_first", "next_attempt_at", "id", postgresql_where=text(f"{DUE} AND {FIRST}")),
        Index("deliveries_due_by_org", "org_id", "next_attempt_at", "id",
              postgresql_where=text(f"{DUE} AND {SHARED}")),
        Index("deliveries_in_flight", "lease_until",
              postgresql_where=text(f"state IN ('{DeliveryState.CLAIMED}', '{DeliveryState.SENDING}')")),
        Index("deliveries_created_at", "created_at"),  # retention purge (migration 0003)
    )


class OrgQuota(Base):
    """An organization's own quotas; NULL: the default (settings)."""

    __tablename__ = "org_quotas"
    org_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    messages_per_day: Mapped[int | None] = mapped_column(Integer)
    recipients_per_day: Mapped[int | None] = mapped_column(Integer)
    reminders_per_program_per_day: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = created_column()

    NAMES = ("messages_per_day", "recipients_per_day", "reminders_per_program_per_day")

    @staticmethod
    def limits(own: "OrgQuota | None", defaults: dict[str, int]) -> dict[str, int]:
        """The organization's value of each quota, else the default."""
        return {name: (getattr(own, name, None) if own is not None and getattr(own, name) is not None
                       else defaults[name]) for name in OrgQuota.NAMES}

    @staticmethod
    def refusal(quota: str, limit: int, used: int, wanted: int, at: datetime) -> AppError | None:
        """None if `wanted` more fits in what is left today; else the 429 to answer,
        with the seconds until the quota is renewed (the next UTC midnight)."""
        if used + wanted <= limit:
            return None
        midnight = datetime.combine(at.astimezone(UTC).date() + timedelta(days=1), time(), UTC)
        return AppError(ErrorCode.TOO_MANY_REQUESTS, f"this organization's {quota.replace('_', ' ')} quota is used up",
                        {"quota": quota, "limit": limit, "used": used, "requested": wanted,
                         "retry_after_seconds": max(1, int((midnight - at).total_seconds()))})


class QuotaUsage(Base):
    """What an organization used of a quota on one UTC day (`counter`: the
    quota's name, with the program for per-program ones)."""

    __tablename__ = "quota_usage"
    org_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    counter: Mapped[str] = mapped_column(String(120), primary_key=True)
    used: Mapped[int] = mapped_column(Integer)
