"""Scheduled reports with three reporting replicas (real processes) and one
killed (kill -9) in the middle of a run: every due run is sent exactly once
(docs/reporting.md "Reports", "Schedules"; services/reporting/reports/runs.py).

Replica A claims the due runs and pauses inside the run's transaction
(REPORT_RUN_PAUSE_SECONDS, honoured in development mode only), holding the
row lock, with nothing committed but its claim; it is killed there. B and C
take the claims over once their lease (REPORT_RUN_LEASE_SECONDS) has run out
and one of them sends each run. A run that falls due while B and C both run
is sent once."""
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from servicekit import config
from servicekit.migrations import drop_database, migrate
from services.reporting.reports import runs
from tests.support.suite import AUTH, MANAGEMENT, stop_processes

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 4


@pytest.fixture
def replicas(tmp_path, monkeypatch):
    run = uuid.uuid4().hex[:8]
    vhost, prefix = f"reports-{run}", f"rr{run}_"
    requests.put(f"{MANAGEMENT}/vhosts/{vhost}", auth=AUTH, timeout=10).raise_for_status()
    requests.put(f"{MANAGEMENT}/permissions/{vhost}/guest", auth=AUTH, timeout=10,
                 json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    monkeypatch.setenv("DATABASE_PREFIX", prefix)
    migrate("reporting")
    engine = create_engine(config.database_url("reporting"))
    env = dict(os.environ, DATABASE_PREFIX=prefix, APP_ENV="development", LOG_LEVEL="INFO", OPS_PORT="0",
               BROKER_URL=f"amqp://guest:guest@127.0.0.1:5672/{vhost}", PYTHONUNBUFFERED="1",
               REPORT_SCHEDULE_INTERVAL_SECONDS="0.5", REPORT_RUN_LEASE_SECONDS=str(LEASE_SECONDS),
               REPORTING_CATALOG_REFRESH_SECONDS="3600", DB_POOL_IDLE="1")
    # each process connects as its own broker user (servicekit.broker_users), as in the suite
    subprocess.run([sys.executable, "-m", "servicekit.broker_users", "--vhost", vhost], env=env, cwd=ROOT,
                   check=True, stdout=subprocess.DEVNULL)
    started: dict[str, subprocess.Popen] = {}

    def start(name: str, **extra) -> subprocess.Popen:
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        started[name] = subprocess.Popen(
            [sys.executable, "-m", "servicekit.run", "services.reporting.service:ReportingService"],
            env={**env, **extra}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        return started[name]

    yield start, engine, tmp_path
    stop_processes(started.values())
    engine.dispose()
    requests.delete(f"{MANAGEMENT}/vhosts/{vhost}", auth=AUTH, timeout=10)
    drop_database("reporting")


def scheduled_org(engine, admins: int, due_hour: int) -> str:
    """An organization with a daily schedule at `due_hour` UTC, first seen yesterday, and its org admins."""
    org_id = str(uuid.uuid4())
    schedule = {"frequency": "DAILY", "hour": due_hour, "reports": ["usage", "membership"]}
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO orgs (org_id, name, timezone, report_schedule) "
                          "VALUES (:o, 'Acme', 'UTC', CAST(:s AS jsonb))"), {"o": org_id, "s": json.dumps(schedule)})
        conn.execute(text("INSERT INTO report_schedules_seen (org_id, digest, since) VALUES (:o, :d, :since)"),
                     {"o": org_id, "d": runs.schedule_digest(schedule),
                      "since": datetime.now(UTC) - timedelta(days=1)})
        for i in range(admins):
            conn.execute(text("INSERT INTO admins (admin_id, org_id, user_id, email, full_name, role) "
                              "VALUES (:a, :o, :u, :e, 'Admin', 'ORG_ADMIN')"),
                         {"a": str(uuid.uuid4()), "o": org_id, "u": str(uuid.uuid4()), "e": f"admin{i}@acme.example"})
    return org_id


def one(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).first()


def links_sent(engine, org_id) -> int:
    return one(engine, "SELECT count(*) FROM kit_outbox WHERE event_type = 'reporting.report.ready.v1' "
                       "AND envelope->>'org_id' = :o", o=org_id)[0]


def wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_three_replicas_one_killed_mid_run_send_each_run_once(replicas):
    start, engine, logs = replicas
    hour = datetime.now(UTC).hour  # due at the top of this hour: owed now
    first, second = scheduled_org(engine, 2, hour), scheduled_org(engine, 3, hour)
    a = start("A", REPORT_RUN_PAUSE_SECONDS="120")
    wait(lambda: one(engine, "SELECT count(*) FROM report_runs WHERE state = 'CLAIMED' AND claimed_by LIKE :p",
                     p=f"%:{a.pid}:%")[0] == 2, 60, "replica A to claim both runs")
    wait(lambda: "pausing" in (logs / "A.log").read_text(errors="replace"), 30, "replica A inside a run")
    b, c = start("B"), start("C")
    time.sleep(1.0)
    a.kill()  # kill -9 in the middle of the run: its transaction (links, DONE) is lost, its claim stays
    a.wait()
    assert links_sent(engine, first) == 0 and links_sent(engine, second) == 0
    wait(lambda: one(engine, "SELECT count(*) FROM report_runs WHERE state = 'DONE'")[0] == 2, 60,
         "B or C to take over and send both runs")
    rows = {r.org_id: r for r in [one(engine, "SELECT org_id::text, state, attempts, claimed_by, recipients "
                                               "FROM report_runs WHERE org_id = :o", o=o) for o in (first, second)]}
    for org_id, admins in ((first, 2), (second, 3)):
        row = rows[org_id]
        assert row.attempts == 2 and row.recipients == admins * 2
        assert f":{b.pid}:" in row.claimed_by or f":{c.pid}:" in row.claimed_by
    # a run that falls due while B and C both run: once
    third = scheduled_org(engine, 1, hour)
    wait(lambda: links_sent(engine, third) == 2, 30, "the third organization's run")
    time.sleep(3.0)  # several more ticks of both replicas
    assert (links_sent(engine, first), links_sent(engine, second), links_sent(engine, third)) == (4, 6, 2)
    assert one(engine, "SELECT count(*) FROM report_runs")[0] == 3
    # the events leave the outbox (each replica's relay publishes; none twice: claimed with SKIP LOCKED)
    wait(lambda: one(engine, "SELECT count(*) FROM kit_outbox WHERE event_type = 'reporting.report.ready.v1' "
                             "AND published_at IS NULL")[0] == 0, 30, "the outbox to publish the links")
    assert b.poll() is None and c.poll() is None
