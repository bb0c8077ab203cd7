"""identity: organizations.anonymize_leaderboard (skills' leaderboard hides contact info)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 17:55:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column('organizations', sa.Column('anonymize_leaderboard', sa.Boolean(), server_default=sa.text('false'),
                                             nullable=False))


def downgrade():
    op.drop_column('organizations', 'anonymize_leaderboard')
