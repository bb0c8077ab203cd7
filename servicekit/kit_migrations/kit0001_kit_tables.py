"""kit: the kit's tables (outbox, processed events, failed events)

The kit's own Alembic branch (label `kit`), in every service's history
(servicekit.migrations adds this folder to each service's version locations).

Revision ID: kit0001
Revises:
Create Date: 2026-12-01 14:30:00
"""
from alembic import op

from servicekit import kit_tables

revision = "kit0001"
down_revision = None
branch_labels = ("kit",)
depends_on = None


def upgrade():
    kit_tables.metadata.create_all(op.get_bind(), checkfirst=False)


def downgrade():
    kit_tables.metadata.drop_all(op.get_bind(), checkfirst=False)
