"""The kit's own tables, in every service's database: the outbox, the
processed-event records (idempotent handlers) and the failed/parked events.

Declared once here as SQLAlchemy tables: the kit's Alembic branch creates
them (`servicekit/kit_migrations/`), and every service's autogenerate compares
them too (servicekit.alembic_env), so it proposes neither dropping them nor
anything else for them. The kit reads and writes them with
plain SQL (servicekit.outbox, servicekit.events)."""
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData()


def _timestamp(name: str, nullable: bool = False, default_now: bool = True) -> Column:
    return Column(name, DateTime(timezone=True), nullable=nullable,
                  server_default=text("now()") if default_now else None)


kit_outbox = Table(
    "kit_outbox", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("event_id", UUID(as_uuid=False), nullable=False),
    Column("event_type", Text, nullable=False),
    Column("exchange", Text, nullable=False),
    Column("envelope", JSONB, nullable=False),
    _timestamp("created_at"),
    _timestamp("published_at", nullable=True, default_now=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    _timestamp("next_attempt_at"),
    Column("last_error", Text),
    UniqueConstraint("event_id", name="kit_outbox_event_id_key"),
    Index("kit_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    Index("kit_outbox_published_at", "published_at", postgresql_where=text("published_at IS NOT NULL")),
)

kit_processed_events = Table(
    "kit_processed_events", metadata,
    Column("event_id", Text, primary_key=True),
    Column("handler", Text, primary_key=True),
    _timestamp("processed_at"),
    Index("kit_processed_events_at", "processed_at"),  # purged after a retention period
)

kit_failed_events = Table(
    "kit_failed_events", metadata,
    Column("id", BigInteger, primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("handler", Text, nullable=False),
    Column("queue", Text, nullable=False),
    Column("envelope", JSONB, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("status", Text, nullable=False, server_default=text("'RETRYING'")),
    Column("last_error", Text),
    _timestamp("first_failed_at"),
    _timestamp("last_failed_at"),
    _timestamp("parked_at", nullable=True, default_now=False),
    UniqueConstraint("event_id", "handler", name="kit_failed_events_event_id_handler_key"),
    CheckConstraint("status IN ('RETRYING', 'PARKED', 'REPLAYED')", name="kit_failed_events_status_check"),
)


def create_kit_tables(bind) -> None:
    """The kit's tables on a database without Alembic (the kit's own tests)."""
    metadata.create_all(bind)
