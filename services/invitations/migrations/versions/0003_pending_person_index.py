"""invitations: index a person's pending invitations of an organization (SCIM deprovisioning revokes them)

Revision ID: 0003
Revises: 0002 (the kit's schema)
Create Date: 2026-12-01 21:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('invitations_pending_person', 'invitations', ['org_id', 'user_id'],
                    postgresql_where=sa.text("state = 'PENDING'"))


def downgrade():
    op.drop_index('invitations_pending_person', table_name='invitations', postgresql_where=sa.text("state = 'PENDING'"))
