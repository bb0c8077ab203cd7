"""audit: entries, chain heads, checkpoints; entries and checkpoints append-only"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None

UUID = postgresql.UUID(as_uuid=False)


def upgrade():
    op.create_table(
        "audit_entries",
        sa.Column("id", UUID, nullable=False),
        sa.Column("org_id", UUID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("event_id", UUID, nullable=False),
        sa.Column("event_type", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("actor_label", sa.String(length=320), nullable=True),
        sa.Column("target_type", sa.String(length=50), nullable=False),
        sa.Column("target_id", sa.String(length=200), nullable=True),
        sa.Column("target_label", sa.Text(), nullable=True),
        sa.Column("program_id", UUID, nullable=True),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "org_id", name="audit_entries_event_org"),
        sa.UniqueConstraint("org_id", "seq", name="audit_entries_org_seq"),
    )
    op.create_index("audit_entries_org_time", "audit_entries", ["org_id", "occurred_at", "id"])
    op.create_index("audit_entries_org_actor_time", "audit_entries", ["org_id", "actor_id", "occurred_at", "id"])
    op.create_index("audit_entries_org_target_time", "audit_entries", ["org_id", "target_id", "occurred_at", "id"])
    op.create_index("audit_entries_org_program_time", "audit_entries", ["org_id", "program_id", "occurred_at", "id"])
    op.create_table(
        "audit_heads",
        sa.Column("org_id", UUID, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_hash", sa.String(length=64), server_default="0" * 64, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("org_id"),
    )
    op.create_table(
        "audit_actors",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=320), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("kind", "id"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("org_id", UUID, nullable=False),
        sa.Column("through_seq", sa.BigInteger(), nullable=False),
        sa.Column("through_hash", sa.String(length=64), nullable=False),
        sa.Column("through_occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purged", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "through_seq", name="audit_checkpoints_org_seq"),
    )
    op.create_index(op.f("ix_audit_checkpoints_org_id"), "audit_checkpoints", ["org_id"])
    # Append-only: no UPDATE, DELETE or TRUNCATE of entries, except the
    # retention purge's DELETE (its transaction sets audit.purge, services/audit/commands/retention.py);
    # checkpoints are never changed. (A database owner can still disable a
    # trigger: the hash chain is what shows a change, `python -m services.audit.cli verify`.)
    op.execute("""
        CREATE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_entries'
               AND coalesce(current_setting('audit.purge', true), '') = 'on' THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
    """)
    for table in ("audit_entries", "audit_checkpoints"):
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_append_only()")


def downgrade():
    for table in ("audit_entries", "audit_checkpoints"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.execute("DROP FUNCTION IF EXISTS audit_entries_append_only()")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_actors")
    op.drop_table("audit_heads")
    op.drop_table("audit_entries")
