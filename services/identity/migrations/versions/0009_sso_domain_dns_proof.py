"""identity: self-service domain verification (docs/sso.md, "Verifying a
domain"): each claimed domain gets its random TXT value, who verified it, and
the outcome of its last check

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 23:20:00
"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('sso_domains', sa.Column('challenge', sa.String(64)))
    op.add_column('sso_domains', sa.Column('verified_by_kind', sa.String(20)))
    op.add_column('sso_domains', sa.Column('verified_by_id', sa.String(64)))
    op.add_column('sso_domains', sa.Column('last_checked_at', sa.DateTime(timezone=True)))
    op.add_column('sso_domains', sa.Column('last_check', sa.String(20)))
    op.add_column('sso_domains', sa.Column('last_check_message', sa.Text()))
    conn = op.get_bind()
    for (domain_id,) in conn.execute(sa.text("SELECT id FROM sso_domains")).all():
        conn.execute(sa.text("UPDATE sso_domains SET challenge = :c WHERE id = :id"),
                     {"c": secrets.token_urlsafe(32), "id": domain_id})
    op.alter_column('sso_domains', 'challenge', nullable=False)


def downgrade():
    for column in ('last_check_message', 'last_check', 'last_checked_at', 'verified_by_id', 'verified_by_kind',
                   'challenge'):
        op.drop_column('sso_domains', column)
