"""reports: scheduled report runs and when each schedule was first seen

The first revision of the reports' own Alembic branch (label `reports`) in
reporting's history, so its revisions never collide with reporting's
numbered ones (services/reporting/reports/models.py, runs.py)."""
import sqlalchemy as sa
from alembic import op

revision = "reports0001"
down_revision = None
branch_labels = ("reports",)
depends_on = "0001"


def upgrade():
    op.create_table(
        "report_runs",
        sa.Column("id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("org_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "due_at", name="report_runs_once"),
    )
    op.create_table(
        "report_schedules_seen",
        sa.Column("org_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id"),
    )


def downgrade():
    op.drop_table("report_schedules_seen")
    op.drop_table("report_runs")
