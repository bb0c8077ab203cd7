"""The whole suite as real processes with PostgreSQL behind a TCP proxy:
every connection dropped and new ones refused for 10 s (as a restart does)
while a CSV import and API calls run. No process exits, the API answers 503
with Retry-After (never 500) during the cut and 200 after, the import
completes with exact counts in every service, nothing is parked."""
import time

import eventlet
import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from tests.resilience.test_suite_faults import IMPORT_ENV, ROWS, finish_import, start_import
from tests.support.suite import Suite
from tests.support.tcp_proxy import proxy_fixture

DATABASE_CUT_SECONDS = 10



database_proxy = proxy_fixture(5432)  # PostgreSQL


@pytest.fixture(scope="module")
def database_suite(tmp_path_factory, database_proxy):
    running = Suite(tmp_path_factory.mktemp("dbfaults"), env={
        "DATABASE_BASE_URL": f"postgresql+psycopg2://postgres@127.0.0.1:{database_proxy.port}",
        "LOG_LEVEL": "WARNING", **IMPORT_ENV,
    }).start()
    yield running
    running.stop()


def test_database_restart_during_an_import(database_suite, database_proxy):
    suite = database_suite
    # direct, not through the proxy; no idle connections held (the shared PostgreSQL is busy)
    engines = {name: create_engine(suite.database_url(name), poolclass=NullPool) for name in suite.services}
    try:
        admin, program, caller, import_id, tag = start_import(suite, engines)

        cut_at = time.monotonic()
        database_proxy.cut()
        eventlet.sleep(DATABASE_CUT_SECONDS)
        during = caller.statuses(since=cut_at + 1, until=time.monotonic())
        restored_at = time.monotonic()
        database_proxy.restore()

        done_at = finish_import(suite, engines, admin, program, caller, import_id, tag)
        assert during and set(during) == {503}, during
        assert 500 not in caller.statuses(), caller.calls
        first_ok = caller.first_ok_after(restored_at)
        print(f"\nPostgreSQL cut {DATABASE_CUT_SECONDS}s: API 200 again {first_ok - restored_at:.1f}s after it came "
              f"back; import of {ROWS} rows complete in every service {done_at - restored_at:.1f}s after; "
              f"API answers during the cut: {len(during)} x 503")
    finally:
        for engine in engines.values():
            engine.dispose()
