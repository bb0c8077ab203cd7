"""The CSV import engine: the worker that turns an uploaded file's rows into
invitations, batch after committed batch, resumable after a crash.

A job is claimed with a lease (`claim_import`); `run_import` streams the rows
from where the last committed batch stopped. Pipelined: while one batch is
stored, the next is screened and its people asked of identity (a read on its
own connection and an RPC; the unit of work stays with the storing side)."""
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import eventlet
from prometheus_client import Counter
from sqlalchemy import and_, select, text, update

from contracts.errors import AppError, ErrorCode
from contracts.invitations import IMPORT_COMPLETED, INVITATIONS_CREATED, ImportStatus, InvitationState
from servicekit.bulk import insert_rows
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from servicekit.models import new_id, normalize_email
from services.invitations import csvfile
from services.invitations.commands import created_item, new_invitation_values
from services.invitations.models import ImportJob, Invitation, Member, Rejection, new_token
from services.invitations.settings import InvitationSettings

log = logging.getLogger(__name__)

IMPORT_ROWS = Counter("learnadmin_invitation_import_rows_total", "CSV rows processed by bulk imports", ["outcome"])
for _outcome in ("created", "duplicate", "invalid"):
    IMPORT_ROWS.labels(_outcome)  # at 0 from start

# identity's `ensure_people(org_id, people)`: a person (or {"error": ...}) for each
EnsurePeople = Callable[[str, list[dict]], list[dict]]

INSERT_COLUMNS = {  # column: PostgreSQL type, for inserting a batch (servicekit.bulk)
    "id": "uuid", "org_id": "uuid", "program_id": "uuid", "contract_id": "uuid", "user_id": "uuid", "email": "text",
    "full_name": "text", "external_id": "text", "state": "text", "token_hash": "text", "send_email": "boolean",
    "invited_by": "uuid", "import_id": "uuid", "import_row": "integer", "created_at": "timestamptz",
    "expires_at": "timestamptz", "last_sent_at": "timestamptz", "send_count": "integer"}

REJECTED_COLUMNS = {"row_number": "integer", "full_name": "text", "email": "text", "external_id": "text",
                    "kind": "text", "reason": "text"}


class LeaseLost(Exception):
    """Another worker took the import over (this one stalled past its lease)."""


def work_on_imports(uow: UnitOfWork, ensure_people: EnsurePeople, settings: InvitationSettings) -> None:
    """The import worker's tick (every replica runs it): claim one import and run it."""
    claimed = claim_import(uow, settings)
    uow.commit()
    if claimed is None:
        return
    import_id, owner = claimed
    try:
        run_import(uow, import_id, owner, ensure_people, settings=settings)
    except LeaseLost:
        log.warning("import %s was taken over by another worker", import_id)
        uow.rollback()
    except Exception:
        # Left RUNNING: once its lease runs out it is claimed again and resumes.
        log.exception("import %s stopped; it will resume", import_id)
        uow.rollback()


def claim_import(uow: UnitOfWork, settings: InvitationSettings | None = None) -> tuple[str, str] | None:
    """Take the oldest import nobody works on (new, or whose worker's lease ran
    out: it crashed). Returns (import_id, lease_owner)."""
    settings = settings or InvitationSettings.from_env()
    owner = new_id()
    row = uow.session.execute(text(
        "UPDATE import_jobs SET status = :running, lease_owner = :owner, attempts = attempts + 1, "
        "       lease_until = now() + make_interval(secs => :lease), started_at = coalesce(started_at, now()) "
        "WHERE id = (SELECT id FROM import_jobs WHERE status IN (:pending, :running) "
        "            AND (lease_until IS NULL OR lease_until < now()) "
        "            ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED) "
        "RETURNING id"), {"owner": owner, "lease": settings.import_lease_seconds, "pending": ImportStatus.PENDING,
                          "running": ImportStatus.RUNNING}).first()
    if row is None:
        return None
    if uow.session.get(ImportJob, row.id).failed_too_often(settings.max_import_attempts):
        _finish(uow, str(row.id), ImportStatus.FAILED, "the import failed repeatedly; upload the file again")
        return None
    return str(row.id), owner


def run_import(uow: UnitOfWork, import_id: str, owner: str, ensure_people: EnsurePeople,
               batch_size: int | None = None, settings: InvitationSettings | None = None) -> None:
    """Process the rows from where the last committed batch stopped, committing
    each batch with its progress, then complete the job."""
    settings = settings or InvitationSettings.from_env()
    job = uow.session.get(ImportJob, import_id)
    seen: set[str] = set()  # emails of this run's earlier rows (their batch may not be committed yet)
    try:
        batches = _batches(csvfile.rows(csvfile.decode(job.content), job.next_record),
                           batch_size or settings.import_batch)
        ahead = _spawn_prepare(uow, settings, job, next(batches, None), seen, ensure_people)
        while ahead is not None:
            prepared = ahead.wait()
            ahead = _spawn_prepare(uow, settings, job, next(batches, None), seen, ensure_people)
            try:
                _store(uow, settings, job, owner, prepared)
                uow.commit()
            except BaseException:
                if ahead is not None:
                    ahead.kill()
                raise
    except AppError as exc:
        if exc.code not in (ErrorCode.INVALID_FILE, ErrorCode.PAYLOAD_TOO_LARGE):
            raise
        uow.rollback()
        _finish(uow, import_id, ImportStatus.FAILED, exc.message)
        return
    _finish(uow, import_id, ImportStatus.COMPLETED, None, owner)


def _batches(rows, size: int):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _spawn_prepare(uow: UnitOfWork, settings: InvitationSettings, job: ImportJob, batch: list | None, seen: set,
                   ensure_people: EnsurePeople):
    if batch is None:
        return None
    return eventlet.spawn(_prepare, uow, settings, job, batch, seen, ensure_people)


def _completed_payload(job: ImportJob) -> dict:
    return {"import_id": job.id, "org_id": job.org_id, "program_id": job.program_id, "contract_id": job.contract_id,
            "total_rows": job.total_rows, "created": job.created, "duplicates": job.duplicates,
            "invalid": job.invalid}


def _batch_created_payload(job: ImportJob, items: list[dict]) -> dict:
    return {"import_id": job.id, "org_id": job.org_id, "program_id": job.program_id, "program_name": job.program_name,
            "contract_id": job.contract_id, "send_email": job.send_email, "custom_message": job.custom_message,
            "invited_by": job.invited_by, "invitations": items}


def _finish(uow: UnitOfWork, import_id: str, status: ImportStatus, error: str | None, owner: str | None = None) -> None:
    condition = ImportJob.id == import_id
    if owner:
        condition = and_(condition, ImportJob.lease_owner == owner)
    job = uow.session.execute(
        update(ImportJob).where(condition)
        .values(status=status, error=error, completed_at=utcnow(), lease_until=None, lease_owner=None, content=b"")
        .returning(ImportJob)).scalar()
    if job is None:
        raise LeaseLost(import_id)
    uow.publish(IMPORT_COMPLETED, _completed_payload(job), org_id=job.org_id)


def _people(settings: InvitationSettings, ensure_people: EnsurePeople, org_id: str, rows: list) -> list[dict | str]:
    """identity's person for each row (or the reason identity refused it),
    asked in chunks, a few at a time."""
    people = [{"email": r.email, "full_name": r.full_name, "external_id": r.external_id} for r in rows]
    size = settings.identity_chunk
    chunks = [people[i:i + size] for i in range(0, len(people), size)]
    pool = eventlet.GreenPool(settings.identity_concurrency)
    answers = pool.imap(lambda chunk: ensure_people(org_id, chunk), chunks)
    return [_reason_of(answer["error"]) if "error" in answer else answer for chunk in answers for answer in chunk]


def _reason_of(error: dict) -> str:
    details = error.get("details") if isinstance(error.get("details"), dict) else {}
    fields = "; ".join(f"{key}: {', '.join(map(str, value)) if isinstance(value, list) else value}"
                       for key, value in details.items())
    return f"{error['message']} ({fields})" if fields else error["message"]


def _insert_invitations(uow: UnitOfWork, rows: list[dict]) -> set[str]:
    """Insert a batch; a row in conflict with a pending invitation (or already
    inserted) is skipped. Returns the ids inserted."""
    if not rows:
        return set()
    inserted = insert_rows(uow.session, "invitations", INSERT_COLUMNS, rows, "ON CONFLICT DO NOTHING", "id")
    return {str(row_id) for (row_id,) in inserted}


@dataclass
class Prepared:
    """A batch screened and its people known: what remains is to store it."""
    batch: list
    rejected: list  # (row, kind, reason)
    fresh: list  # the rows to invite
    people: list  # identity's person for each fresh row, or the reason it refused it
    began: float
    identity_seconds: float


def _prepare(uow: UnitOfWork, settings: InvitationSettings, job: ImportJob, batch: list, seen: set,
             ensure_people: EnsurePeople) -> Prepared:
    """Check the rows, drop duplicates (in the file, or pending already) and
    ask identity for the people of the others."""
    began = time.perf_counter()
    rejected: list[tuple] = []  # (row, kind, reason)
    candidates = []
    for row in batch:
        reason = csvfile.problem(row)
        if reason:
            rejected.append((row, Rejection.INVALID, reason))
            continue
        row.email = normalize_email(row.email)
        if row.email in seen:
            rejected.append((row, Rejection.DUPLICATE, "duplicate: the email appears earlier in the file"))
            continue
        seen.add(row.email)
        candidates.append(row)

    pending = _pending(uow, job, [r.email for r in candidates]) if candidates else {}
    fresh = []
    for row in candidates:
        if row.email in pending:
            rejected.append((row, Rejection.DUPLICATE, "duplicate: the email appears earlier in the file"
                             if pending[row.email] == job.id else "duplicate: a pending invitation exists"))
        else:
            fresh.append(row)
    asked = time.perf_counter()
    people = _people(settings, ensure_people, job.org_id, fresh) if fresh else []
    return Prepared(batch, rejected, fresh, people, began, time.perf_counter() - asked)


def _pending(uow: UnitOfWork, job: ImportJob, emails: list[str]) -> dict[str, str | None]:
    """email -> import id of the pending invitations to the job's program."""
    session = uow.independent_session()
    try:
        return dict(session.execute(select(Invitation.email, Invitation.import_id).where(
            Invitation.program_id == job.program_id, Invitation.state == InvitationState.PENDING,
            Invitation.email.in_(emails))).all())
    finally:
        session.close()


def _store(uow: UnitOfWork, settings: InvitationSettings, job: ImportJob, owner: str, prepared: Prepared) -> None:
    """Insert the batch's invitations, its rejected rows and its progress."""
    batch, rejected, fresh, people = prepared.batch, prepared.rejected, prepared.fresh, prepared.people
    members = set(uow.session.scalars(select(Member.user_id).where(
        Member.program_id == job.program_id,
        Member.user_id.in_([p["user_id"] for p in people if isinstance(p, dict)])))) if people else set()
    to_insert = []  # (values, raw token)
    for row, person in zip(fresh, people, strict=True):
        if isinstance(person, str):
            rejected.append((row, Rejection.INVALID, person))
        elif person["user_id"] in members:
            rejected.append((row, Rejection.DUPLICATE, "duplicate: already a member of the program"))
        else:
            raw = new_token()
            person = {**person, "email": row.email, "full_name": row.full_name}
            to_insert.append((new_invitation_values(settings, job.org_id, job.program_id, job.contract_id, person,
                                                    job.send_email, job.invited_by, raw, job.id, row.number), raw))

    created = _insert_invitations(uow, [values for values, _ in to_insert])
    items = []
    by_number = {row.number: row for row in fresh}
    for values, raw in to_insert:
        if values["id"] in created:
            items.append(created_item(settings, values, raw))
        else:  # a concurrent single invitation got there first
            rejected.append((by_number[values["import_row"]], Rejection.DUPLICATE,
                             "duplicate: a pending invitation exists"))
    if items:
        uow.publish(INVITATIONS_CREATED, _batch_created_payload(job, items), org_id=job.org_id)
    if rejected:
        insert_rows(uow.session, "import_rejected_rows", REJECTED_COLUMNS, [
            {"row_number": row.number, "full_name": csvfile.printable(row.full_name),
             "email": csvfile.printable(row.email), "external_id": csvfile.printable(row.external_id),
             "kind": kind, "reason": reason} for row, kind, reason in rejected],
            "ON CONFLICT DO NOTHING", constants={"import_id": ("uuid", job.id)})
    duplicates = sum(1 for _, kind, _ in rejected if kind == Rejection.DUPLICATE)
    invalid = len(rejected) - duplicates
    progressed = uow.session.execute(
        update(ImportJob).where(ImportJob.id == job.id, ImportJob.lease_owner == owner)
        .values(next_record=batch[-1].number + 1, processed_rows=ImportJob.processed_rows + len(batch),
                created=ImportJob.created + len(created), duplicates=ImportJob.duplicates + duplicates,
                invalid=ImportJob.invalid + invalid,
                lease_until=text(f"now() + make_interval(secs => {int(settings.import_lease_seconds)})"))
        .returning(ImportJob.id)).first()
    if progressed is None:
        raise LeaseLost(job.id)
    IMPORT_ROWS.labels("created").inc(len(created))
    IMPORT_ROWS.labels("duplicate").inc(duplicates)
    IMPORT_ROWS.labels("invalid").inc(invalid)
    log.info("import %s: records %d-%d in %.2f s (identity %.2f s)", job.id, batch[0].number, batch[-1].number,
             time.perf_counter() - prepared.began, prepared.identity_seconds)
