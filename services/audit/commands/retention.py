"""Retention: entries recorded more than AUDIT_RETENTION_DAYS ago are purged,
a prefix of each organization's chain at a time, and a checkpoint signed with
AUDIT_CHECKPOINT_SECRET records where the chain was cut (the last purged
entry's seq and hash), so what is kept still verifies (services/audit/chain.py).

The append-only trigger (migration 0001) lets DELETE through only in a
transaction that sets `audit.purge` (SET LOCAL): this one."""
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text

from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from services.audit.commands.entries import lock_head
from services.audit.models import PURGE_SETTING, AuditCheckpoint, AuditEntry

PURGE_BATCH = 10_000  # entries per transaction (one checkpoint each)


def orgs_with_expired(uow: UnitOfWork, cutoff: datetime) -> list[str]:
    return list(uow.session.scalars(select(AuditEntry.org_id).where(AuditEntry.recorded_at < cutoff)
                                    .group_by(AuditEntry.org_id).order_by(AuditEntry.org_id)))


def purge_org(uow: UnitOfWork, org_id: str, cutoff: datetime, secret: str, batch: int = PURGE_BATCH) -> int:
    """Purge the oldest entries of one organization recorded before `cutoff`
    (at most `batch`), leaving a signed checkpoint. Returns how many went.
    Only a prefix of the chain goes: the entries up to the first one kept."""
    lock_head(uow, org_id)  # no append meanwhile
    first_seq = uow.session.scalar(select(func.min(AuditEntry.seq)).where(AuditEntry.org_id == org_id))
    if first_seq is None:
        return 0
    first_kept = uow.session.scalar(select(func.min(AuditEntry.seq))
                                    .where(AuditEntry.org_id == org_id, AuditEntry.recorded_at >= cutoff))
    last_purged_seq = (first_kept - 1) if first_kept is not None else uow.session.scalar(
        select(func.max(AuditEntry.seq)).where(AuditEntry.org_id == org_id))
    last_purged_seq = min(last_purged_seq, first_seq + batch - 1)
    if last_purged_seq < first_seq:
        return 0
    boundary = uow.session.scalars(select(AuditEntry).where(AuditEntry.org_id == org_id,
                                                            AuditEntry.seq == last_purged_seq)).one()
    uow.session.execute(text(f"SET LOCAL {PURGE_SETTING} = 'on'"))
    purged = uow.session.execute(delete(AuditEntry).where(AuditEntry.org_id == org_id,
                                                          AuditEntry.seq <= last_purged_seq)).rowcount
    checkpoint = AuditCheckpoint(org_id=org_id, through_seq=boundary.seq, through_hash=boundary.hash,
                                 through_occurred_at=boundary.occurred_at, purged=purged, created_at=utcnow())
    checkpoint.sign(secret)
    uow.session.add(checkpoint)
    uow.session.execute(text(f"SET LOCAL {PURGE_SETTING} = 'off'"))
    uow.session.flush()
    return purged


def purge_expired(uow: UnitOfWork, retention_days: int | None, secret: str, now: datetime | None = None) -> int:
    """Purge every organization's expired entries (committing per batch).
    `retention_days` None keeps everything."""
    if not retention_days:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    total = 0
    for org_id in orgs_with_expired(uow, cutoff):
        while True:
            purged = purge_org(uow, org_id, cutoff, secret)
            uow.commit()
            total += purged
            if purged < PURGE_BATCH:
                break
    return total
