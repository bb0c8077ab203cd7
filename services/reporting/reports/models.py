"""The reports' own tables, on reporting's `Base` (its migrations: the
`reports` Alembic branch, services/reporting/migrations/versions/reports0001_*)."""
from datetime import datetime

from sqlalchemy import DateTime, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from servicekit.models import uuid_column
from services.reporting.models import Base


class ReportRun(Base):
    """One scheduled run of an organization's reports (runs.py: CLAIMED -> DONE)."""
    __tablename__ = "report_runs"
    id: Mapped[str] = uuid_column(primary_key=True)
    org_id: Mapped[str] = uuid_column()
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16))
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    recipients: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("org_id", "due_at", name="report_runs_once"),)


class ReportScheduleSeen(Base):
    """When the scheduler first saw an organization's current schedule (runs due before are not owed)."""
    __tablename__ = "report_schedules_seen"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReportEmailWindow(Base):
    """How many report links an organization's admins had emailed in one hour (delivery.check_email_rate)."""
    __tablename__ = "report_email_windows"
    org_id: Mapped[str] = uuid_column(primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    emails: Mapped[int] = mapped_column(Integer, server_default="0")
