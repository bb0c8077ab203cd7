"""collections (the reports' Enrollment Source) and the names learning platforms give items (gradebooks)

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

UUID = sa.UUID(as_uuid=False)


def upgrade():
    op.create_table(
        "collections",
        sa.Column("collection_id", UUID, nullable=False),
        sa.Column("org_id", UUID, nullable=False),
        sa.Column("program_id", UUID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("collection_id"),
    )
    op.create_table(
        "item_names",
        sa.Column("org_id", UUID, nullable=False),
        sa.Column("course_id", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.String(length=500), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("named_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "course_id", "item_id"),
    )


def downgrade():
    op.drop_table("item_names")
    op.drop_table("collections")
