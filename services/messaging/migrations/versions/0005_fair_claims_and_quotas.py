"""account emails first (their own index) and fair claiming across organizations; per-organization quotas"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'


def upgrade():
    op.drop_index("deliveries_due", "deliveries")
    op.create_index("deliveries_due_first", "deliveries", ["next_attempt_at", "id"],
                    postgresql_where=sa.text("state = 'QUEUED' AND (category = 'ACCOUNT' OR org_id IS NULL)"))
    op.create_index("deliveries_due_by_org", "deliveries", ["org_id", "next_attempt_at", "id"],
                    postgresql_where=sa.text("state = 'QUEUED' AND (category <> 'ACCOUNT' AND org_id IS NOT NULL)"))
    op.create_table(
        "org_quotas",
        sa.Column("org_id", sa.String(64), primary_key=True),
        sa.Column("messages_per_day", sa.Integer()),
        sa.Column("recipients_per_day", sa.Integer()),
        sa.Column("reminders_per_program_per_day", sa.Integer()),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        "quota_usage",
        sa.Column("org_id", sa.String(64), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("counter", sa.String(120), primary_key=True),
        sa.Column("used", sa.Integer(), nullable=False),
    )


def downgrade():
    op.drop_table("quota_usage")
    op.drop_table("org_quotas")
    op.drop_index("deliveries_due_by_org", "deliveries")
    op.drop_index("deliveries_due_first", "deliveries")
    op.create_index("deliveries_due", "deliveries", ["next_attempt_at"], postgresql_where=sa.text("state = 'QUEUED'"))
