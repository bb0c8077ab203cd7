"""identity: SCIM 2.0 provisioning (scim_users, scim_groups and their members, group-to-program mappings) and
organizations.deprovision_exit_email

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 20:15:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('organizations', sa.Column('deprovision_exit_email', sa.Boolean(), server_default=sa.text('true'),
                                             nullable=False))
    op.create_table(
        'scim_users',
        sa.Column('org_id', UUID(as_uuid=False), nullable=False),
        sa.Column('user_id', UUID(as_uuid=False), nullable=False),
        sa.Column('user_name', sa.String(254), nullable=False),
        sa.Column('user_name_key', sa.String(254), nullable=False),
        sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
        sa.Column('given_name', sa.String(200)),
        sa.Column('family_name', sa.String(200)),
        sa.Column('display_name', sa.String(200)),
        sa.Column('manager_id', sa.String(200)),
        sa.Column('version', sa.Integer(), server_default='1', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint('org_id', 'user_id'),
        sa.ForeignKeyConstraint(['org_id', 'user_id'], ['profiles.org_id', 'profiles.user_id']),
    )
    op.create_index('scim_users_user_name', 'scim_users', ['org_id', 'user_name_key'], unique=True)
    op.create_table(
        'scim_groups',
        sa.Column('id', UUID(as_uuid=False), primary_key=True),
        sa.Column('org_id', UUID(as_uuid=False), sa.ForeignKey('organizations.id'), nullable=False),
        sa.Column('display_name', sa.String(200), nullable=False),
        sa.Column('external_id', sa.String(200)),
        sa.Column('version', sa.Integer(), server_default='1', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index('scim_groups_org_name', 'scim_groups', ['org_id', sa.text('lower(display_name)')], unique=True)
    op.create_table(
        'scim_group_members',
        sa.Column('group_id', UUID(as_uuid=False), sa.ForeignKey('scim_groups.id', ondelete='CASCADE'),
                  primary_key=True),
        sa.Column('user_id', UUID(as_uuid=False), primary_key=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        'scim_group_mappings',
        sa.Column('id', UUID(as_uuid=False), primary_key=True),
        sa.Column('org_id', UUID(as_uuid=False), sa.ForeignKey('organizations.id'), nullable=False),
        sa.Column('display_name', sa.String(200), nullable=False),
        sa.Column('program_id', UUID(as_uuid=False), nullable=False),
        sa.Column('contract_id', UUID(as_uuid=False), nullable=False),
        sa.Column('created_by', UUID(as_uuid=False)),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index('scim_group_mappings_org_name', 'scim_group_mappings',
                    ['org_id', sa.text('lower(display_name)')], unique=True)


def downgrade():
    op.drop_table('scim_group_mappings')
    op.drop_table('scim_group_members')
    op.drop_table('scim_groups')
    op.drop_table('scim_users')
    op.drop_column('organizations', 'deprovision_exit_email')
