"""The Kubernetes init container's check: a Pod waits until its service's
database is at the head of its Alembic history (real PostgreSQL)."""
import uuid

from sqlalchemy.engine import make_url

from servicekit import config, schema_ready
from servicekit.migrations import drop_database, ensure_database, migrate


def test_waits_for_migrations_then_passes(monkeypatch):
    url = make_url(config.database_url("invitations")).set(database=f"schemaready_{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("INVITATIONS_DATABASE_URL", url.render_as_string(hide_password=False))
    ensure_database("invitations")
    try:
        assert schema_ready.at_head("invitations") is False
        assert schema_ready.main(["invitations", "--timeout", "0.5"]) == 1
        migrate("invitations")
        assert schema_ready.at_head("invitations") is True
        assert schema_ready.main(["invitations", "--timeout", "5"]) == 0
    finally:
        drop_database("invitations")


def test_an_unreachable_database_is_waited_for(monkeypatch):
    monkeypatch.setenv("INVITATIONS_DATABASE_URL", "postgresql+psycopg2://nobody@127.0.0.1:1/none")
    assert schema_ready.wait("invitations", timeout=0.3, interval=0.1) is False
