"""Scheduled report runs: each due run sent exactly once, whatever the
number of replicas, and none lost when a replica dies mid-run.

Every replica ticks (REPORT_SCHEDULE_INTERVAL_SECONDS) and, for each
organization with a schedule, asks `schedule.latest_due`. A run is a row of
`report_runs`, unique on (org_id, due_at), in one of two states:

  CLAIMED  a replica took it (`claimed_by`) until `lease_until`;
  DONE     its emails are in the outbox (`completed_at`, `recipients`).

1. Claim (its own transaction): INSERT ... ON CONFLICT (org_id, due_at) DO
   NOTHING: of any number of replicas one row is inserted, by one of them.
   A CLAIMED row whose lease has run out (its claimer died) is taken over by
   UPDATE ... WHERE state = 'CLAIMED' AND lease_until < now(), one replica
   again (row lock, SKIP LOCKED), `attempts` + 1.
2. Complete (one transaction): lock the row (FOR UPDATE) and check it is
   still ours and CLAIMED; sign one link per admin and report, record the
   `reporting.report.ready.v1` events in the outbox, set DONE. The events and
   DONE commit together or not at all: a replica killed before the commit
   leaves the row CLAIMED with nothing sent (taken over after the lease); a
   replica that had lost its claim finds the row not ours and sends nothing.
   While one replica holds the row lock, a takeover waits for it and then
   sees DONE.
The outbox publishes each event at least once and messaging records one
delivery per (event id, recipient, template): one email per admin and report."""
import hashlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import eventlet
from sqlalchemy import text

from contracts.reporting import REPORT_READY
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from services.reporting.reports import schedule
from services.reporting.reports.delivery import link_events, recipients
from services.reporting.reports.settings import ReportsSettings

log = logging.getLogger(__name__)
CLAIMED, DONE = "CLAIMED", "DONE"
REPLICA = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
ACTIVE = ("DAILY", "WEEKLY", "MONTHLY")


@dataclass(frozen=True)
class Claim:
    run_id: str
    org_id: str
    due_at: datetime


def schedule_digest(sched: dict) -> str:
    return hashlib.sha256(json.dumps(sched, sort_keys=True).encode()).hexdigest()


def schedules(uow: UnitOfWork, now: datetime) -> list[tuple[str, str | None, dict, datetime]]:
    """(org_id, time zone, schedule, since) of every organization with an active
    schedule. `since` is when this schedule (its settings) was first seen: a run
    due before it is not owed (report_schedules_seen, updated here)."""
    rows = uow.session.execute(text(
        "SELECT org_id::text, timezone, report_schedule FROM orgs "
        "WHERE report_schedule->>'frequency' = ANY(:active)"), {"active": list(ACTIVE)}).all()
    if not rows:
        return []
    digests = {org_id: schedule_digest(sched) for org_id, _, sched in rows}
    uow.session.execute(text(
        "INSERT INTO report_schedules_seen (org_id, digest, since) "
        "SELECT CAST(o AS uuid), d, :now FROM unnest(CAST(:orgs AS text[]), CAST(:digests AS text[])) AS t(o, d) "
        "ON CONFLICT (org_id) DO UPDATE SET digest = EXCLUDED.digest, since = EXCLUDED.since "
        "WHERE report_schedules_seen.digest <> EXCLUDED.digest"),
        {"now": now, "orgs": list(digests), "digests": list(digests.values())})
    since = dict(uow.session.execute(text(
        "SELECT org_id::text, since FROM report_schedules_seen WHERE org_id = ANY(CAST(:orgs AS uuid[]))"),
        {"orgs": list(digests)}).all())
    return [(org_id, tz, sched, since[org_id]) for org_id, tz, sched in rows]


def claim_due(uow: UnitOfWork, settings: ReportsSettings, now: datetime, replica: str = REPLICA) -> list[Claim]:
    """Claim every run due now that nobody has claimed, and every claim whose lease ran out."""
    lease = now + timedelta(seconds=settings.run_lease_seconds)
    claims = []
    for org_id, tz, sched, since in schedules(uow, now):
        due = schedule.latest_due(sched, tz, now, since)
        if due is None:
            continue
        row = uow.session.execute(text(
            "INSERT INTO report_runs (id, org_id, due_at, state, claimed_by, lease_until, attempts, created_at) "
            "VALUES (:id, :org, :due, 'CLAIMED', :me, :lease, 1, :now) "
            "ON CONFLICT (org_id, due_at) DO NOTHING RETURNING id::text"),
            {"id": str(uuid.uuid4()), "org": org_id, "due": due, "me": replica, "lease": lease, "now": now}).first()
        if row is not None:
            claims.append(Claim(row[0], org_id, due))
    stale = uow.session.execute(text(
        "UPDATE report_runs SET claimed_by = :me, lease_until = :lease, attempts = attempts + 1 "
        "WHERE id IN (SELECT id FROM report_runs WHERE state = 'CLAIMED' AND lease_until < :now "
        "             FOR UPDATE SKIP LOCKED) "
        "RETURNING id::text, org_id::text, due_at"), {"me": replica, "lease": lease, "now": now}).all()
    for run_id, org_id, due in stale:
        log.warning("taking over report run %s (org %s, due %s): its claim ran out", run_id, org_id, due)
        claims.append(Claim(run_id, org_id, due))
    return claims


def complete(uow: UnitOfWork, settings: ReportsSettings, claim: Claim, now: datetime,
             replica: str = REPLICA) -> int | None:
    """Send the run (see the module docstring). The number of links, or None
    when the run is no longer ours to send."""
    row = uow.session.execute(text(
        "SELECT o.report_schedule FROM report_runs r JOIN orgs o ON o.org_id = r.org_id "
        "WHERE r.id = :id AND r.state = 'CLAIMED' AND r.claimed_by = :me FOR UPDATE OF r"),
        {"id": claim.run_id, "me": replica}).first()
    if row is None:
        return None
    pause = settings.pause_after_claim()
    if pause:
        log.warning("pausing %.1f s inside report run %s (REPORT_RUN_PAUSE_SECONDS)", pause, claim.run_id)
        eventlet.sleep(pause)
    reports = schedule.reports_of(row[0] or {})
    events = link_events(settings, uow, claim.org_id, recipients(uow, claim.org_id), reports, now, scheduled=True,
                         run=claim.run_id)
    uow.publish_many(REPORT_READY, [(payload, claim.org_id) for payload in events])
    uow.session.execute(text(
        "UPDATE report_runs SET state = 'DONE', completed_at = :now, recipients = :n, lease_until = NULL "
        "WHERE id = :id"), {"id": claim.run_id, "now": now, "n": len(events)})
    return len(events)


def tick(unit_of_work: Callable[[], UnitOfWork], settings: ReportsSettings, now: datetime | None = None,
         replica: str = REPLICA) -> list[tuple[Claim, int | None]]:
    """One scheduler round of this replica: claim (one transaction), then
    complete each claim in a transaction of its own."""
    now = now or utcnow()
    uow = unit_of_work()
    try:
        claims = claim_due(uow, settings, now, replica)
        uow.commit()
    finally:
        uow.close()
    done = []
    for claim in claims:
        uow = unit_of_work()
        try:
            sent = complete(uow, settings, claim, now, replica)
            uow.commit()
            if sent is not None:
                log.info("report run %s sent %d links (org %s, due %s)", claim.run_id, sent, claim.org_id,
                         claim.due_at.isoformat())
            done.append((claim, sent))
        except Exception:
            log.exception("report run %s failed; it is taken over when its lease runs out", claim.run_id)
            uow.rollback()
        finally:
            uow.close()
    return done
