"""identity: scim_entitlement_states, the last SCIM entitlement state published per (org, person) and its version
(identity.scim.entitlements_changed.v1, docs/scim.md)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 23:20:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'scim_entitlement_states',
        sa.Column('org_id', UUID(as_uuid=False), nullable=False),
        sa.Column('user_id', UUID(as_uuid=False), nullable=False),
        sa.Column('version', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('state', JSONB()),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint('org_id', 'user_id'),
    )


def downgrade():
    op.drop_table('scim_entitlement_states')
