"""kit: the kit's tables (outbox, processed events, failed events).

The first revision of the kit's own Alembic branch (label `kit`), in every
service's history (servicekit.migrations adds this folder to each service's
version locations)."""
from alembic import op

from servicekit import kit_tables

revision, down_revision = "kit0001", None
branch_labels = ("kit",)


def upgrade():
    kit_tables.metadata.create_all(op.get_bind(), checkfirst=False)


def downgrade():
    kit_tables.metadata.drop_all(op.get_bind(), checkfirst=False)
