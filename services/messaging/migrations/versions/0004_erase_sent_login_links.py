"""final deliveries keep no login link (verify, reset, accept URLs)"""
from alembic import op

revision = '0004'
down_revision = '0003'

LINKS = "ARRAY['accept_url', 'reset_url', 'verify_url']"


def upgrade():
    # Deliveries still to be sent keep theirs (they are rendered from it).
    op.execute(f"UPDATE deliveries SET context = context - {LINKS}::text[] "
               f"WHERE state IN ('SENT', 'FAILED', 'SUPPRESSED') AND context ?| {LINKS}")


def downgrade():
    pass  # erased links are gone for good (they were secrets)
