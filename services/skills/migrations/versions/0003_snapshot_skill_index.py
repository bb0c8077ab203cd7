"""skills: benchmark_snapshots by skill (benchmark-over-time reads one skill's or the top skills' rows)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 19:20:00
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('benchmark_snapshots_skill', 'benchmark_snapshots', ['skill_id', 'org_id', 'month'], unique=False)


def downgrade():
    op.drop_index('benchmark_snapshots_skill', table_name='benchmark_snapshots')
