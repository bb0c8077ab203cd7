"""programs: scim_entitlements, the last SCIM entitlement version applied per (org, person), the programs SCIM
manages for them and its refused joins (identity.scim.entitlements_changed.v1, docs/scim.md)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 23:30:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "0004"
down_revision = "0003"


def upgrade():
    op.create_table(
        "scim_entitlements",
        sa.Column("org_id", UUID(as_uuid=False), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("managed", ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("refused", ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "user_id"),
    )


def downgrade():
    op.drop_table("scim_entitlements")
