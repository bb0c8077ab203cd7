"""identity: the organization's people list (GET /v1/orgs/{org_id}/people): newest first per organization,
and a trigram search on the email address and the names

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 23:30:00
"""
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # keyset paging, newest first: (org_id, created_at, user_id) backwards
    op.create_index('profiles_org_joined', 'profiles', ['org_id', 'created_at', 'user_id'])
    # the search: lower-cased LIKE '%...%' on these three expressions (queries.list_people)
    op.execute("CREATE INDEX users_email_trgm ON users USING gin (email gin_trgm_ops)")
    op.execute("CREATE INDEX users_name_trgm ON users USING gin (lower(full_name) gin_trgm_ops)")
    op.execute("CREATE INDEX profiles_name_trgm ON profiles USING gin (lower(full_name) gin_trgm_ops)")


def downgrade():
    op.drop_index('profiles_name_trgm', 'profiles')
    op.drop_index('users_name_trgm', 'users')
    op.drop_index('users_email_trgm', 'users')
    op.drop_index('profiles_org_joined', 'profiles')
