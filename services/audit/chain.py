"""Verifying the chains: every entry's hash is its content's, every entry
names its predecessor's hash, the seqs have no gap, the chain ends where
its head says, and a chain cut by a retention purge starts exactly at a
checkpoint whose signature is good. Reads only; streams entries in seq order."""
from dataclasses import dataclass, field

from sqlalchemy import select

from servicekit.db import UnitOfWork
from services.audit.models import GENESIS, AuditCheckpoint, AuditEntry, AuditHead

STREAM_BATCH = 2000


@dataclass
class ChainReport:
    org_id: str
    entries: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_org(uow: UnitOfWork, org_id: str, secret: str) -> ChainReport:
    report = ChainReport(org_id)
    checkpoints = uow.session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.org_id == org_id)
                                      .order_by(AuditCheckpoint.through_seq)).all()
    expected_seq, expected_prev = 1, GENESIS
    for checkpoint in checkpoints:
        if not checkpoint.signed_by(secret):
            report.problems.append(f"checkpoint through seq {checkpoint.through_seq}: bad signature")
        if checkpoint.through_seq < expected_seq - 1:
            report.problems.append(f"checkpoint through seq {checkpoint.through_seq}: out of order")
        expected_seq, expected_prev = checkpoint.through_seq + 1, checkpoint.through_hash
    entries = uow.session.execute(select(AuditEntry).where(AuditEntry.org_id == org_id)
                                  .order_by(AuditEntry.seq).execution_options(yield_per=STREAM_BATCH)).scalars()
    last_seq, last_hash = expected_seq - 1, expected_prev
    for entry in entries:
        report.entries += 1
        where = f"entry seq {entry.seq} ({entry.id})"
        if entry.seq != expected_seq:
            report.problems.append(f"{where}: expected seq {expected_seq} (entries missing)")
        if entry.prev_hash != expected_prev:
            report.problems.append(f"{where}: does not chain to the previous entry's hash")
        if entry.compute_hash() != entry.hash:
            report.problems.append(f"{where}: content does not match its hash (changed)")
        expected_seq, expected_prev = entry.seq + 1, entry.hash
        last_seq, last_hash = entry.seq, entry.hash
    head = uow.session.get(AuditHead, org_id)
    if head is not None and (head.last_seq, head.last_hash) != (last_seq, last_hash):
        report.problems.append(f"the chain ends at seq {last_seq} but its head says {head.last_seq} "
                               "(entries missing at the end)")
    return report


def chain_orgs(uow: UnitOfWork) -> list[str]:
    """Every organization with a chain (a head), entries or checkpoints."""
    heads = set(uow.session.scalars(select(AuditHead.org_id)))
    heads |= set(uow.session.scalars(select(AuditEntry.org_id).distinct()))
    heads |= set(uow.session.scalars(select(AuditCheckpoint.org_id).distinct()))
    return sorted(heads)


def verify_all(uow: UnitOfWork, secret: str, org_id: str | None = None) -> list[ChainReport]:
    return [verify_org(uow, org, secret) for org in ([org_id] if org_id else chain_orgs(uow))]
