"""The whole suite (every service, the gateway) as real processes, with
RabbitMQ behind a TCP proxy, while a CSV import and API calls run:

* the broker goes silent (only the 2 s test heartbeat notices), then refuses
  connections, 32 s in all: no process exits, the API answers 503 with
  Retry-After (never 500) during the cut and 200 after, the import completes
  with exact counts in every service, no event is parked;
* each service in turn is killed with SIGKILL and started again: the same;
(PostgreSQL faults: test_database_faults.py.)

The recovery figures of docs/operations.md come from these runs (printed
with `-s`)."""
import time
import uuid

import eventlet
import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from servicekit.standalone import unit_of_work
from tests.e2e.conftest import Api, unique
from tests.e2e.test_invitations import finished_import, setup_program, upload
from tests.support.suite import Suite
from tests.support.tcp_proxy import proxy_fixture
from tests.support.waiting import wait_for

ROWS = 5000
CUT_SILENT_SECONDS = 8  # > 2 heartbeats: only heartbeats notice a silent network
CUT_REFUSED_SECONDS = 24  # then the broker is away (a restart): 32 s in all


# What both fault suites run with while an import is under way.
IMPORT_ENV = {
    "DB_POOL_SIZE": "4",  # the shared PostgreSQL serves other suites too
    "INVITATION_IMPORT_BATCH": "250",
    "INVITATION_IMPORT_LEASE_SECONDS": "5",
}

proxy = proxy_fixture(5672)  # RabbitMQ


@pytest.fixture(scope="module")
def suite(tmp_path_factory, proxy):
    running = Suite(tmp_path_factory.mktemp("faults"), broker_port=proxy.port,
                    env={"AMQP_HEARTBEAT": "2", **IMPORT_ENV}).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def engines(suite):
    made = {name: create_engine(suite.database_url(name), poolclass=NullPool) for name in suite.services}
    yield made
    for engine in made.values():
        engine.dispose()


def scalar(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def org_admin(suite) -> Api:
    from services.identity.commands.organizations import create_org_with_admin

    email = f"{unique('admin')}@example.com"
    with unit_of_work("identity", suite.database_url("identity")) as uow:
        org_id = create_org_with_admin(uow, unique("Org"), email, "Ada Admin", "correct horse battery")["org_id"]
    admin = Api(suite.base_url).as_user(email, "correct horse battery")
    admin.org_id = org_id
    return admin


def csv_file(tag: str) -> bytes:
    lines = ["Full Name,Email,External ID"]
    lines += [f"Person {i},p{i}-{tag}@faults.example,X{i}" for i in range(ROWS)]
    return ("\n".join(lines) + "\n").encode()


class Caller:
    """Calls GET /v1/me in a loop and records (started, finished, status, Retry-After)."""

    def __init__(self, api: Api):
        self.api = api
        self.calls: list[tuple[float, float, int, str | None]] = []
        self.running = True
        self.thread = eventlet.spawn(self._loop)

    def _loop(self):
        while self.running:
            started = time.monotonic()
            try:
                response = self.api.get("/v1/me")
                status, retry_after = response.status_code, response.headers.get("Retry-After")
            except requests.RequestException:
                status, retry_after = 0, None
            self.calls.append((started, time.monotonic(), status, retry_after))
            eventlet.sleep(0.2)

    def stop(self):
        self.running = False
        self.thread.wait()

    def statuses(self, since: float = 0.0, until: float = float("inf")) -> list[int]:
        return [status for started, finished, status, _ in self.calls if started >= since and finished <= until]

    def first_ok_after(self, moment: float) -> float:
        return min(finished for started, finished, status, _ in self.calls if started >= moment and status == 200)


def assert_import_exact(suite, engines, admin, program, import_id: str, tag: str) -> float:
    """Every service holds exactly ROWS of the import; returns when that was reached."""
    job = finished_import(admin, import_id, timeout=240)
    assert job["status"] == "COMPLETED", job
    assert (job["created"], job["duplicates"], job["invalid"]) == (ROWS, 0, 0), job
    counts = {
        "invitations": ("invitations", "SELECT count(*) FROM invitations WHERE program_id = :p"),
        "programs": ("programs", "SELECT count(*) FROM memberships WHERE program_id = :p AND state = 'INVITED'"),
        "messaging": ("messaging", "SELECT count(*) FROM invitations WHERE program_id = :p"),
        "identity": ("identity", "SELECT count(*) FROM users WHERE email LIKE :pattern"),
    }
    deadline = time.monotonic() + 120
    while True:
        found = {name: scalar(engines[db], sql, p=program["id"], pattern=f"%-{tag}@faults.example")
                 for name, (db, sql) in counts.items()}
        if all(value == ROWS for value in found.values()) or time.monotonic() > deadline:
            break
        eventlet.sleep(0.5)
    assert found == dict.fromkeys(counts, ROWS)
    return time.monotonic()


def import_under_way(engines, import_id: str) -> int:
    """Wait until the import has committed its first rows; returns how many."""
    deadline = time.monotonic() + 30
    while True:
        processed = scalar(engines["invitations"], "SELECT processed_rows FROM import_jobs WHERE id = :id",
                           id=import_id)
        if processed:
            return processed
        assert time.monotonic() < deadline, "the import did not start"
        eventlet.sleep(0.05)


def assert_nothing_parked_or_stuck(suite, engines):
    for name, engine in engines.items():
        assert scalar(engine, "SELECT count(*) FROM kit_failed_events WHERE status = 'PARKED'") == 0, name
    deadline = time.monotonic() + 60
    while any(scalar(engine, "SELECT count(*) FROM kit_outbox WHERE published_at IS NULL")
              for engine in engines.values()):
        assert time.monotonic() < deadline, "outbox rows left unpublished"
        eventlet.sleep(0.5)


def start_import(suite, engines) -> tuple[Api, dict, "Caller", str, str]:
    """An org admin, a client calling GET /v1/me, and a CSV import of ROWS new people under way:
    (admin, program, caller, import_id, tag)."""
    admin = org_admin(suite)
    program, contract = setup_program(admin, admin.org_id, licenses=ROWS * 2)
    tag = uuid.uuid4().hex[:8]
    caller = Caller(admin)
    started = upload(admin, program, contract, csv_file(tag))
    assert started.status_code == 202, started.text
    import_id = started.json()["import_id"]
    assert import_under_way(engines, import_id) < ROWS
    return admin, program, caller, import_id, tag


def finish_import(suite, engines, admin, program, caller, import_id: str, tag: str) -> float:
    """Waits for the import to be exact in every service with nothing parked, stops the
    client and checks no process exited; answers when the import was complete."""
    done_at = assert_import_exact(suite, engines, admin, program, import_id, tag)
    assert_nothing_parked_or_stuck(suite, engines)
    eventlet.sleep(1)
    caller.stop()
    assert_alive(suite)
    return done_at


def assert_alive(suite):
    exited = {name: process.returncode for name, process in suite.processes.items() if process.poll() is not None}
    assert not exited, f"processes exited: {exited}\n" + "\n".join(suite.log(name)[-3000:] for name in exited)


def test_broker_cut_longer_than_the_heartbeat_during_an_import(suite, proxy, engines):
    admin, program, caller, import_id, tag = start_import(suite, engines)

    cut_at = time.monotonic()
    proxy.freeze()
    eventlet.sleep(CUT_SILENT_SECONDS)
    proxy.cut()
    eventlet.sleep(CUT_REFUSED_SECONDS)
    assert_alive(suite)
    during = caller.statuses(since=cut_at + 1, until=time.monotonic())
    ready_during = requests.get(f"{suite.base_url}/readyz", timeout=15).status_code
    restored_at = time.monotonic()
    proxy.restore()

    done_at = finish_import(suite, engines, admin, program, caller, import_id, tag)

    assert during and set(during) == {503}, during
    assert all(retry_after for _, _, status, retry_after in caller.calls if status == 503)
    assert 500 not in caller.statuses()
    assert ready_during == 503
    first_ok = caller.first_ok_after(restored_at)
    assert requests.get(f"{suite.base_url}/readyz", timeout=5).status_code == 200
    print(f"\nbroker cut {CUT_SILENT_SECONDS + CUT_REFUSED_SECONDS}s ({CUT_SILENT_SECONDS}s silent): "
          f"API 200 again {first_ok - restored_at:.1f}s after the broker came back; "
          f"import of {ROWS} rows complete in every service {done_at - restored_at:.1f}s after; "
          f"API answers during the cut: {len(during)} x 503")


def test_each_service_killed_in_turn_during_an_import(suite, engines):
    admin, program, caller, import_id, tag = start_import(suite, engines)
    recovery = {}
    for name in ("invitations", "programs", "identity", "messaging"):
        killed_at = time.monotonic()
        suite.restart(name)  # SIGKILL, then started again at once
        assert suite.serving(name, timeout=60)  # answered by the new process
        recovery[name] = time.monotonic() - killed_at
        eventlet.sleep(1)

    done_at = finish_import(suite, engines, admin, program, caller, import_id, tag)
    assert 500 not in caller.statuses(), caller.calls
    assert caller.statuses()[-1] == 200
    print(f"\nkill -9 of each service: serving again after {', '.join(f'{n} {s:.1f}s' for n, s in recovery.items())}"
          f"; import complete {done_at - killed_at:.1f}s after the last restart; "
          f"API statuses seen: {sorted(set(caller.statuses()))}")


def test_a_service_down_makes_only_its_routes_unavailable(suite):
    admin = org_admin(suite)
    suite.processes["messaging"].kill()
    suite.processes["messaging"].wait()
    try:
        # the gateway pings every 5 s with a 2 s deadline: the next round notices (under load, later)
        def metrics_once_messaging_is_down():
            text = requests.get(f"{suite.ops_url('gateway')}/metrics", timeout=5).text
            return text if 'learnadmin_gateway_service_reachable{service="messaging"} 0.0' in text else None

        metrics = wait_for(metrics_once_messaging_is_down, timeout=20)
        assert requests.get(f"{suite.base_url}/readyz", timeout=5).status_code == 200
        assert 'learnadmin_gateway_service_reachable{service="identity"} 1.0' in metrics
        assert admin.get("/v1/me").status_code == 200
        refused = admin.get("/v1/me/email-preferences")  # messaging's
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert refused.headers["Retry-After"]
    finally:
        suite.restart("messaging")
        assert suite.serving("messaging", timeout=60)

