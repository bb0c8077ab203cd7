"""identity: users.token_version, carried by access tokens and raised to revoke
them (role change, password reset, logout everywhere)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 15:35:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column('users', sa.Column('token_version', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    op.drop_column('users', 'token_version')
