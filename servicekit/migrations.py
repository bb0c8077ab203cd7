"""Alembic helpers shared by every service's migration history.

Each service keeps its own `migrations/` folder and `alembic_version` table in
its own database. The kit's tables (outbox, processed events, failed events)
are created by each service's first migration with `create_kit_tables`."""
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from servicekit import config

KIT_TABLES_DDL = """
CREATE TABLE kit_outbox (
    id bigserial PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    event_type text NOT NULL,
    exchange text NOT NULL,
    envelope jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text
);
CREATE INDEX kit_outbox_unpublished ON kit_outbox (id) WHERE published_at IS NULL;
CREATE INDEX kit_outbox_published_at ON kit_outbox (published_at) WHERE published_at IS NOT NULL;

CREATE TABLE kit_processed_events (
    event_id text NOT NULL,
    handler text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, handler)
);

CREATE TABLE kit_failed_events (
    id bigserial PRIMARY KEY,
    event_id text NOT NULL,
    handler text NOT NULL,
    queue text NOT NULL,
    envelope jsonb NOT NULL,
    attempts integer NOT NULL,
    status text NOT NULL DEFAULT 'RETRYING' CHECK (status IN ('RETRYING', 'PARKED', 'REPLAYED')),
    last_error text,
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at timestamptz NOT NULL DEFAULT now(),
    parked_at timestamptz,
    UNIQUE (event_id, handler)
);
"""


def create_kit_tables(op) -> None:
    op.execute(KIT_TABLES_DDL)


def add_processed_events_index(op) -> None:
    """Kit revision 2: processed-event records are purged after a retention
    period (servicekit.outbox): by `processed_at`."""
    op.execute("CREATE INDEX kit_processed_events_at ON kit_processed_events (processed_at)")


def drop_processed_events_index(op) -> None:
    op.execute("DROP INDEX kit_processed_events_at")


def drop_kit_tables(op) -> None:
    op.execute("DROP TABLE kit_failed_events; DROP TABLE kit_processed_events; DROP TABLE kit_outbox;")


def services_root() -> Path:
    return Path(__file__).resolve().parent.parent / "services"


def ensure_database(service: str) -> None:
    """Create the service's database if it does not exist (local/dev/test)."""
    url = make_url(config.database_url(service))
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()


def drop_database(service: str) -> None:
    url = make_url(config.database_url(service))
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


def alembic_config(service: str) -> Config:
    folder = services_root() / service / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(folder))
    cfg.set_main_option("sqlalchemy.url", config.database_url(service).replace("%", "%%"))
    cfg.attributes["service"] = service
    return cfg


def migrate(service: str, revision: str = "head") -> None:
    ensure_database(service)
    command.upgrade(alembic_config(service), revision)


def service_names_with_migrations() -> list[str]:
    return [name for name in config.SERVICES if (services_root() / name / "migrations").is_dir()]


def main() -> None:
    """`python -m servicekit.migrations [service ...]`: create and migrate databases."""
    import sys

    names = sys.argv[1:] or service_names_with_migrations()
    for name in names:
        migrate(name)
        print(f"migrated {name} ({config.database_name(name)})")


if __name__ == "__main__":
    main()
