"""kit: the kit's schema comes from the kit branch

Every service history has this revision after its 0001 (one file, shared).
Databases created before the kit had its own branch passed it as "index
processed events by time" and already hold the kit's tables: depending on
kit0001 marks that revision as applied for them, without running it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:50:00
"""

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = "kit0001"


def upgrade():
    pass


def downgrade():
    pass
