"""identity's tables, and the rules that belong to one row of them (plain
methods, unit-tested without a database)."""
from datetime import date, datetime, timedelta

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from contracts.common import AdminRole as Role
from contracts.errors import AppError, ErrorCode
from contracts.identity import OrgSettingsSchema
from servicekit.models import OrgProfileColumns, created_column, id_column, new_id, uuid_column

ORG_FIELDS = tuple(OrgSettingsSchema().fields)


class Base(DeclarativeBase):
    pass


# Made by migration 0011_people_list for the people list's search (pg_trgm GIN expression indexes no model declares).
UNMANAGED_DB_OBJECTS = ("users_email_trgm", "users_name_trgm", "profiles_name_trgm")


class Organization(Base):
    __tablename__ = "organizations"
    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(200))
    brand_color: Mapped[str | None] = mapped_column(String(7))
    logo_url: Mapped[str | None] = mapped_column(Text)
    banner_url: Mapped[str | None] = mapped_column(Text)
    default_invitation_message: Mapped[str | None] = mapped_column(Text)
    report_schedule: Mapped[dict | None] = mapped_column(JSONB)
    industry: Mapped[str | None] = mapped_column(String(100))
    company_size: Mapped[str | None] = mapped_column(String(20))
    region: Mapped[str | None] = mapped_column(String(40))
    timezone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    subscription_start: Mapped[date | None] = mapped_column(Date)
    anonymize_leaderboard: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # SCIM deprovisioning sends the program exit email as an admin removal does, unless this is false
    # (the person's mailbox is usually deleted with the account: docs/scim.md)
    deprovision_exit_email: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = created_column()

    def settings(self) -> dict:
        return {name: getattr(self, name) for name in ORG_FIELDS}

    def apply(self, changes: dict) -> list[str]:
        """Set the given settings; the names of those that really changed."""
        changed = [name for name, value in changes.items() if getattr(self, name) != value]
        for name in changed:
            setattr(self, name, changes[name])
        return changed


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = id_column()
    # Stored trimmed and lower-cased: one account per email (rule 1).
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(Text)
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_column()
    # Carried by every access token; raised to revoke the user's live access
    # tokens at once (role change, password reset, logout everywhere).
    token_version: Mapped[int] = mapped_column(Integer, server_default="0", default=0)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    def distrust_unverified_password(self) -> bool:
        """A password chosen before the address was proven (an unverified
        sign-up) is never trusted for what someone else grants the address:
        forget it. True when there was one to forget."""
        if self.email_verified or self.password_hash is None:
            return False
        self.password_hash = None
        return True

    def mark_verified(self, at: datetime) -> bool:
        """True when this call verified the address (it was not yet)."""
        if self.email_verified_at is not None:
            return False
        self.email_verified_at = at
        return True


class Profile(OrgProfileColumns, Base):
    """A person's place in one organization. `full_name` is the organization's own name for
    the person; the account's name (users.full_name) is the person's."""

    __tablename__ = "profiles"
    org_id: Mapped[str] = uuid_column(ForeignKey("organizations.id"), primary_key=True)
    user_id: Mapped[str] = uuid_column(ForeignKey("users.id"), primary_key=True)
    created_at: Mapped[datetime] = created_column()
    __table_args__ = (
        Index("profiles_external_id", "org_id", "external_id", unique=True,
              postgresql_where=text("external_id IS NOT NULL")),
        # the people list: newest first per organization, keyset-paginated (queries.list_people)
        Index("profiles_org_joined", "org_id", "created_at", "user_id"),
    )


class AdminRole(Base):
    __tablename__ = "admin_roles"
    id: Mapped[str] = id_column()
    org_id: Mapped[str] = uuid_column(ForeignKey("organizations.id"), index=True)
    user_id: Mapped[str] = uuid_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))  # contracts.common.AdminRole
    program_ids: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    created_at: Mapped[datetime] = created_column()
    __table_args__ = (Index("admin_roles_unique", "org_id", "user_id", "role", unique=True),)

    @staticmethod
    def programs_for(role: str, program_ids: list[str]) -> list[str]:
        """The programs a grant of `role` covers: none for an org admin (all of
        them), at least one for a program admin."""
        if role == Role.ORG_ADMIN:
            return []
        if not program_ids:
            raise AppError(ErrorCode.INVALID_INPUT, "a program admin needs at least one program",
                           {"program_ids": ["required for PROGRAM_ADMIN"]})
        return sorted(set(program_ids))

    def grant_again(self, program_ids: list[str]) -> None:
        """A second grant of the same role: an org admin is one already; a
        program admin gains the programs."""
        if self.role == Role.ORG_ADMIN:
            raise AppError(ErrorCode.ALREADY_ADMIN, "this person is already an organization admin")
        self.program_ids = sorted(set(self.program_ids or []) | set(program_ids))


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"
    id: Mapped[str] = id_column()
    user_id: Mapped[str] = uuid_column(ForeignKey("users.id"), index=True)
    # One sign-in and every token rotated from it (OAuth 2.0 security BCP: reuse revokes the family).
    family_id: Mapped[str] = uuid_column(index=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_column()

    def is_live(self, at: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > at

    def revoke(self, at: datetime) -> None:
        if self.revoked_at is None:
            self.revoked_at = at


class OneTimeToken(Base):
    """Email verification and password reset: single use, expiring, hashed."""

    __tablename__ = "one_time_tokens"
    id: Mapped[str] = id_column()
    user_id: Mapped[str] = uuid_column(ForeignKey("users.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))  # OneTimeTokenPurpose
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    superseded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_column()

    def redeem(self, at: datetime) -> None:
        """Use the link once, before it expires, unless a newer one replaced it."""
        if self.superseded_at is not None:
            raise AppError(ErrorCode.TOKEN_INVALID, "a newer link was sent; use the newest one")
        if self.used_at is not None:
            raise AppError(ErrorCode.TOKEN_INVALID, "this link was already used")
        if self.expires_at <= at:
            raise AppError(ErrorCode.TOKEN_EXPIRED, "this link has expired; ask for a new one")
        self.used_at = at


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[str] = id_column()
    org_id: Mapped[str] = uuid_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text))
    created_by: Mapped[str | None] = uuid_column()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_column()

    def revoke(self, at: datetime) -> None:
        """Revoking twice changes nothing."""
        if self.revoked_at is None:
            self.revoked_at = at


class LoginFailures(Base):
    """Failed logins in the current window under one key (shared by all
    replicas): `e:<email>`, `c:<client address>` or `p:<client>|<email>`."""

    __tablename__ = "login_failures"
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lockouts: Mapped[int] = mapped_column(Integer, server_default="0")

    @staticmethod
    def lock_duration(window: timedelta, lockouts: int, longest: timedelta = timedelta(hours=24)) -> timedelta:
        """Each lock of one key lasts twice the one before, up to a day."""
        return min(window * 2 ** min(lockouts, 16), longest)

    def retry_after_seconds(self, at: datetime, window: timedelta) -> int | None:
        """Whole seconds until this key's lock ends (or, unlocked, its window:
        when an email under attack cools down); None when nothing is pending."""
        ends = self.locked_until if self.locked_until and self.locked_until > at else self.window_started_at + window
        if ends <= at:
            return None
        return int((ends - at) / timedelta(seconds=1)) + 1


# ---------------------------------------------------------------- SCIM 2.0 (docs/scim.md)


class ScimUser(Base):
    """A person as the organization's identity provider provisions them: the
    SCIM side of their profile (the profile's own columns hold the mapped
    attributes). The SCIM id is the account's id (`user_id`)."""

    __tablename__ = "scim_users"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    user_id: Mapped[str] = uuid_column(primary_key=True)
    user_name: Mapped[str] = mapped_column(String(254))
    user_name_key: Mapped[str] = mapped_column(String(254))  # lower-cased: userName is case-insensitive
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    given_name: Mapped[str | None] = mapped_column(String(200))
    family_name: Mapped[str | None] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(200))
    manager_id: Mapped[str | None] = mapped_column(String(200))  # enterprise manager.value as given
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "user_id"], ["profiles.org_id", "profiles.user_id"]),
        Index("scim_users_user_name", "org_id", "user_name_key", unique=True),
    )


class ScimGroup(Base):
    """A group the identity provider pushes; its members join the program its
    mapping (by display name) names."""

    __tablename__ = "scim_groups"
    id: Mapped[str] = id_column()
    org_id: Mapped[str] = uuid_column(ForeignKey("organizations.id"))
    display_name: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = created_column()
    __table_args__ = (Index("scim_groups_org_name", "org_id", text("lower(display_name)"), unique=True),)


class ScimGroupMember(Base):
    __tablename__ = "scim_group_members"
    group_id: Mapped[str] = uuid_column(ForeignKey("scim_groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = uuid_column(primary_key=True)
    created_at: Mapped[datetime] = created_column()


class ScimGroupMapping(Base):
    """An org admin's rule: members of the group with this display name join
    this program, on this contract's licenses."""

    __tablename__ = "scim_group_mappings"
    id: Mapped[str] = id_column()
    org_id: Mapped[str] = uuid_column(ForeignKey("organizations.id"))
    display_name: Mapped[str] = mapped_column(String(200))
    program_id: Mapped[str] = uuid_column()
    contract_id: Mapped[str] = uuid_column()
    created_by: Mapped[str | None] = uuid_column()
    created_at: Mapped[datetime] = created_column()
    __table_args__ = (Index("scim_group_mappings_org_name", "org_id", text("lower(display_name)"), unique=True),)


class ScimEntitlementState(Base):
    """The last entitlement state identity published for a person of an organization
    (identity.scim.entitlements_changed.v1) and its version: one more per event, taken under this row's lock
    in the transaction that publishes it, so versions follow the order of the commits (docs/scim.md). Kept when
    the SCIM user is deleted: a person provisioned again continues the sequence."""

    __tablename__ = "scim_entitlement_states"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    user_id: Mapped[str] = uuid_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, server_default="0")
    state: Mapped[dict | None] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = created_column()


# The single sign-on tables share this metadata (one database, one Alembic history).
from services.identity.sso import models as _sso_models  # noqa: E402,F401
