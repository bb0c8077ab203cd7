"""deliveries are purged after a retention period: messages keep their final counts"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'


def upgrade():
    op.add_column("messages", sa.Column("final_counts", postgresql.JSONB(), nullable=True))
    # Messages already sent keep the counts their deliveries give now.
    op.execute("""
        UPDATE messages m SET final_counts = jsonb_build_object(
            'recipients', c.total, 'queued', 0, 'sent', c.sent, 'suppressed', c.suppressed, 'failed', c.failed)
        FROM (SELECT message_id, count(*) AS total, count(*) FILTER (WHERE state = 'SENT') AS sent,
                     count(*) FILTER (WHERE state = 'SUPPRESSED') AS suppressed,
                     count(*) FILTER (WHERE state = 'FAILED') AS failed
              FROM deliveries WHERE message_id IS NOT NULL GROUP BY message_id) c
        WHERE c.message_id = m.id AND m.state = 'SENT'
    """)
    op.create_index("deliveries_created_at", "deliveries", ["created_at"])


def downgrade():
    op.drop_index("deliveries_created_at", "deliveries")
    op.drop_column("messages", "final_counts")
