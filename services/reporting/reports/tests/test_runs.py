"""Scheduled runs against the database: claimed once by one of several
replicas, taken over when a claimer dies, DST days run once, catch-up once."""
from datetime import timedelta

import eventlet
from sqlalchemy import text

from services.reporting.reports import runs
from services.reporting.reports.settings import ReportsSettings
from services.reporting.reports.tests.conftest import add_admin, add_org, add_program, execute, utc

SETTINGS = ReportsSettings.from_env({"REPORT_RUN_LEASE_SECONDS": "60"})


def ready_events(engine, org_id):
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT envelope->'payload' FROM kit_outbox WHERE event_type = 'reporting.report.ready.v1' "
            "AND envelope->>'org_id' = :o"),
            {"o": org_id}).scalars().all()


def run_rows(engine, org_id):
    with engine.connect() as conn:
        return conn.execute(text("SELECT due_at, state, attempts, recipients FROM report_runs WHERE org_id = :o "
                                 "ORDER BY due_at"), {"o": org_id}).all()


def seen_since(engine, org_id, since):
    """As if the scheduler had first seen the organization's current schedule at `since`."""
    with engine.connect() as conn:
        sched = conn.execute(text("SELECT report_schedule FROM orgs WHERE org_id = :o"), {"o": org_id}).scalar()
    execute(engine, "INSERT INTO report_schedules_seen (org_id, digest, since) VALUES (:o, :d, :s) "
                    "ON CONFLICT (org_id) DO UPDATE SET since = :s, digest = :d",
            o=org_id, s=since, d=runs.schedule_digest(sched))


def test_three_replicas_ticking_together_send_a_run_once(engine, unit_of_work):
    org_id = add_org(engine, schedule={"frequency": "DAILY", "hour": 6, "reports": ["usage", "membership"]})
    program = add_program(engine, org_id)
    add_admin(engine, org_id, "org@acme.example")
    add_admin(engine, org_id, "prog@acme.example", role="PROGRAM_ADMIN", program_ids=[program])
    add_admin(engine, org_id, "none@acme.example", role="PROGRAM_ADMIN", program_ids=[])  # no scope: no email
    now = utc(2026, 12, 2, 6, 0, 30)
    runs.tick(unit_of_work, SETTINGS, now - timedelta(days=1))  # first sight of the schedule
    # the schedule was first seen on the 1st: the 2nd's 06:00 is owed
    pool = eventlet.GreenPool()
    results = list(pool.imap(lambda r: runs.tick(unit_of_work, SETTINGS, now, replica=f"replica-{r}"), range(3)))
    assert sum(1 for done in results for claim, _ in done if claim.org_id == org_id) == 1
    assert [(s, a, n) for _, s, a, n in run_rows(engine, org_id)] == [("DONE", 1, 4)]
    events = ready_events(engine, org_id)
    assert sorted((e["email"], e["report"]) for e in events) == [
        ("org@acme.example", "membership"), ("org@acme.example", "usage"),
        ("prog@acme.example", "membership"), ("prog@acme.example", "usage")]
    assert all(e["scheduled"] and "/v1/reports/download/" in e["download_url"] for e in events)
    # later ticks the same day send nothing more
    for minutes in (1, 30, 600):
        runs.tick(unit_of_work, SETTINGS, now + timedelta(minutes=minutes), replica="replica-0")
    assert len(ready_events(engine, org_id)) == 4


def test_a_claimer_that_dies_is_taken_over_once_its_lease_runs_out(engine, unit_of_work):
    org_id = add_org(engine, schedule={"frequency": "DAILY", "hour": 6, "reports": ["usage"]})
    add_admin(engine, org_id, "org@acme.example")
    seen_since(engine, org_id, utc(2026, 11, 1))
    now = utc(2026, 12, 2, 6, 1)
    # replica A claims, then dies before completing (its claim transaction committed, nothing else)
    uow = unit_of_work()
    claims = runs.claim_due(uow, SETTINGS, now, replica="A")
    uow.commit()
    uow.close()
    assert [c.org_id for c in claims] == [org_id]
    # B within the lease: nothing to do
    assert [c for c, _ in runs.tick(unit_of_work, SETTINGS, now + timedelta(seconds=30), replica="B")
            if c.org_id == org_id] == []
    assert ready_events(engine, org_id) == []
    # after the lease, B takes over and sends it; A, back from the dead, finds it no longer its own
    done = runs.tick(unit_of_work, SETTINGS, now + timedelta(seconds=61), replica="B")
    assert [(c.org_id, sent) for c, sent in done if c.org_id == org_id] == [(org_id, 1)]
    uow = unit_of_work()
    assert runs.complete(uow, SETTINGS, claims[0], now, replica="A") is None
    uow.commit()
    uow.close()
    assert [(s, a) for _, s, a, _ in run_rows(engine, org_id)] == [("DONE", 2)]
    assert len(ready_events(engine, org_id)) == 1


def test_a_missed_run_is_caught_up_once(engine, unit_of_work):
    org_id = add_org(engine, schedule={"frequency": "DAILY", "hour": 6, "reports": ["usage"]})
    add_admin(engine, org_id, "org@acme.example")
    seen_since(engine, org_id, utc(2026, 11, 1))
    # down from the 1st at 05:00 to the 4th at 12:00: one run (the 4th's), not four
    runs.tick(unit_of_work, SETTINGS, utc(2026, 12, 4, 12))
    runs.tick(unit_of_work, SETTINGS, utc(2026, 12, 4, 12, 1))
    assert [(d, s) for d, s, _, _ in run_rows(engine, org_id)] == [(utc(2026, 12, 4, 6), "DONE")]
    assert len(ready_events(engine, org_id)) == 1


def test_dst_days_run_once_with_replicas(engine, unit_of_work):
    """New York 2027: 02:00 does not exist on March 14, 01:00 happens twice on November 7."""
    spring = add_org(engine, timezone="America/New_York",
                     schedule={"frequency": "DAILY", "hour": 2, "reports": ["usage"]})
    autumn = add_org(engine, timezone="America/New_York",
                     schedule={"frequency": "DAILY", "hour": 1, "reports": ["usage"]})
    for org_id in (spring, autumn):
        add_admin(engine, org_id, "org@acme.example")
        seen_since(engine, org_id, utc(2027, 1, 1))
    for start in (utc(2027, 3, 14, 4), utc(2027, 11, 7, 3)):
        t = start
        while t < start + timedelta(hours=6):  # every 5 minutes across the change, 3 replicas each time
            for replica in ("r1", "r2", "r3"):
                runs.tick(unit_of_work, SETTINGS, t, replica=replica)
            t += timedelta(minutes=5)
    def on(day, org_id):
        return [d for d, *_ in run_rows(engine, org_id) if d.date() == day]

    assert on(utc(2027, 3, 14).date(), spring) == [utc(2027, 3, 14, 7)]  # 03:00 EDT, right after the jump, once
    assert on(utc(2027, 11, 7).date(), autumn) == [utc(2027, 11, 7, 5)]  # the first 01:00 (EDT), once
    assert len(ready_events(engine, spring)) == len(run_rows(engine, spring))  # one link per run (one admin)
    assert len(ready_events(engine, autumn)) == len(run_rows(engine, autumn))


def test_a_new_schedule_owes_nothing_from_before_it_was_set(engine, unit_of_work):
    org_id = add_org(engine, schedule={"frequency": "DAILY", "hour": 6, "reports": ["usage"]})
    add_admin(engine, org_id, "org@acme.example")
    runs.tick(unit_of_work, SETTINGS, utc(2026, 12, 2, 9))  # first seen at 09:00: today's 06:00 not owed
    assert run_rows(engine, org_id) == []
    runs.tick(unit_of_work, SETTINGS, utc(2026, 12, 3, 6, 0, 5))
    assert [d for d, *_ in run_rows(engine, org_id)] == [utc(2026, 12, 3, 6)]
    # a changed schedule counts from when it changed
    execute(engine, "UPDATE orgs SET report_schedule = '{\"frequency\": \"DAILY\", \"hour\": 5}' WHERE org_id = :o",
            o=org_id)
    runs.tick(unit_of_work, SETTINGS, utc(2026, 12, 3, 7))
    runs.tick(unit_of_work, SETTINGS, utc(2026, 12, 4, 5, 0, 1))
    assert [d for d, *_ in run_rows(engine, org_id)] == [utc(2026, 12, 3, 6), utc(2026, 12, 4, 5)]
