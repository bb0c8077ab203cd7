# Cooperative I/O must be in place before anything else is imported (nameko, psycopg2).
from servicekit import green

green.patch()

import os
import uuid

# Tests use their own databases (test<run>_<service>, so parallel runs do not
# collide; dropped at the end) and free ports.
os.environ.setdefault("DATABASE_PREFIX", f"test{uuid.uuid4().hex[:6]}_")
os.environ.setdefault("OPS_PORT", "0")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("APP_ENV", "development")  # the suite runs with the built-in development key
# Parallel test runs share one PostgreSQL: service processes keep 2 idle
# connections, not 10 (the pool's maximum is unchanged).
os.environ.setdefault("DB_POOL_IDLE", "2")

import pytest  # noqa: E402

# The console's real-browser tests run in their own pytest process, without
# eventlet's patching: `pytest --confcutdir=tests/browser tests/browser` (make test).
collect_ignore = ["tests/browser"]


@pytest.fixture(scope="session")
def service_databases():
    """Fresh databases of every service, migrated to head, for service tests."""
    from servicekit.migrations import drop_database, migrate, service_names_with_migrations

    names = service_names_with_migrations()
    for name in names:
        drop_database(name)
        migrate(name)
    yield names
    for name in names:
        drop_database(name)
