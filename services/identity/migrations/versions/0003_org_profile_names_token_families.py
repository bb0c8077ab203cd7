"""identity hardening: an organization's own name for a person (profiles.full_name),
refresh token families (reuse of a rotated token revokes the family), superseded
password links"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'


def upgrade():
    op.add_column('profiles', sa.Column('full_name', sa.String(length=200), nullable=True))
    op.add_column('refresh_tokens', sa.Column('family_id', sa.UUID(as_uuid=False), nullable=True))
    op.execute("UPDATE refresh_tokens SET family_id = id")  # each existing token starts its own family
    op.alter_column('refresh_tokens', 'family_id', nullable=False)
    op.create_index('ix_refresh_tokens_family_id', 'refresh_tokens', ['family_id'], unique=False)
    op.add_column('one_time_tokens', sa.Column('superseded_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    op.drop_column('one_time_tokens', 'superseded_at')
    op.drop_index('ix_refresh_tokens_family_id', table_name='refresh_tokens')
    op.drop_column('refresh_tokens', 'family_id')
    op.drop_column('profiles', 'full_name')
