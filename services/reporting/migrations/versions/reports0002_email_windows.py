"""reports: emailed report links per organization and hour (the "email me the report" rate limit)

Revision ID: reports0002
Revises: reports0001
"""
import sqlalchemy as sa
from alembic import op

revision = "reports0002"
down_revision = "reports0001"


def upgrade():
    op.create_table(
        "report_email_windows",
        sa.Column("org_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("emails", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("org_id", "window_start"),
    )


def downgrade():
    op.drop_table("report_email_windows")
