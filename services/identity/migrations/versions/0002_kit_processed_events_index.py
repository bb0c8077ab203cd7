"""kit: index processed events by time (they are purged after a retention period)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:50:00
"""
from alembic import op

from servicekit.migrations import add_processed_events_index, drop_processed_events_index

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    add_processed_events_index(op)


def downgrade():
    drop_processed_events_index(op)
