"""invitations' rules, as plain functions over a unit of work.

Answers from other services (the person's account, the program) are passed in
by the entrypoints, so these functions never make an RPC themselves, except
`run_import`, which is given identity's `ensure_people` as a callable."""
import base64
import hashlib
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import eventlet
from nameko.exceptions import RemoteError
from prometheus_client import Counter
from sqlalchemy import and_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from contracts.errors import AppError, ErrorCode, not_found
from servicekit import config
from servicekit.bulk import insert_rows
from services.invitations import csvfile
from services.invitations.models import ImportJob, Invitation, Member, RejectedRow

log = logging.getLogger(__name__)

IMPORT_ROWS = Counter("invitation_import_rows_total", "CSV rows processed by bulk imports", ["outcome"])
EXPIRED = Counter("invitations_expired_total", "Invitations expired by the expiry job")

TTL = timedelta(days=int(config.env("INVITATION_TTL_DAYS", "90")))
IMPORT_BATCH = int(config.env("INVITATION_IMPORT_BATCH", "1000"))
LEASE_SECONDS = int(config.env("INVITATION_IMPORT_LEASE_SECONDS", "15"))
MAX_IMPORT_ATTEMPTS = 10
EXPIRY_BATCH = 500
# rows per identity.ensure_people call, and calls in flight at once
IDENTITY_CHUNK = int(config.env("INVITATION_IDENTITY_CHUNK", "500"))
IDENTITY_CONCURRENCY = int(config.env("INVITATION_IDENTITY_CONCURRENCY", "2"))


def now() -> datetime:
    return datetime.now(UTC)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def accept_url(raw_token: str) -> str:
    return f"{config.public_url()}/invitations/accept?token={raw_token}"


def view(inv: Invitation) -> dict:
    return {name: getattr(inv, name) for name in (
        "id", "org_id", "program_id", "contract_id", "user_id", "email", "full_name", "external_id", "state",
        "send_email", "invited_by", "import_id", "created_at", "expires_at", "last_sent_at", "send_count",
        "closed_at", "close_reason")}


# ---------------------------------------------------------------- reading


def get_invitation(uow, org_id: str, invitation_id: str, lock: bool = False) -> Invitation:
    query = select(Invitation).where(Invitation.id == _uuid(invitation_id), Invitation.org_id == org_id)
    inv = uow.session.scalar(query.with_for_update() if lock else query)
    if inv is None:
        raise not_found("invitation")
    return inv


def locate_invitation(uow, invitation_id: str) -> dict:
    inv = uow.session.get(Invitation, _uuid(invitation_id))
    if inv is None:
        raise not_found("invitation")
    return {"id": inv.id, "org_id": inv.org_id, "program_id": inv.program_id}


def _uuid(value: str) -> str:
    """Ids are UUIDs; anything else simply does not exist."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise not_found("invitation") from None


def pending_for(uow, program_id: str, email: str, lock: bool = False) -> Invitation | None:
    query = select(Invitation).where(Invitation.program_id == program_id, Invitation.state == "PENDING",
                                     Invitation.email == normalize_email(email))
    return uow.session.scalar(query.with_for_update() if lock else query)


def list_invitations(uow, org_id: str, program_id: str, state: str | None, limit: int, cursor: str | None) -> dict:
    query = select(Invitation).where(Invitation.org_id == org_id, Invitation.program_id == program_id)
    if state:
        query = query.where(Invitation.state == state)
    if cursor:
        try:
            created_at, last_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
            after = (datetime.fromisoformat(created_at), str(uuid.UUID(last_id)))
        except (ValueError, TypeError):
            raise AppError(ErrorCode.INVALID_INPUT, "invalid cursor", {"cursor": ["not a cursor of this list"]}) \
                from None
        query = query.where(tuple_(Invitation.created_at, Invitation.id) > after)
    found = list(uow.session.scalars(query.order_by(Invitation.created_at, Invitation.id).limit(limit + 1)))
    next_cursor = None
    if len(found) > limit:
        found = found[:limit]
        last = found[-1]
        next_cursor = base64.urlsafe_b64encode(json.dumps([last.created_at.isoformat(), last.id]).encode()).decode()
    return {"items": [view(inv) for inv in found], "next_cursor": next_cursor}


# ---------------------------------------------------------------- creating


def _new_invitation_values(org_id, program_id, contract_id, person, send_email, invited_by, raw_token,
                           import_id=None, import_row=None) -> dict:
    created = now()
    return {"id": str(uuid.uuid4()), "org_id": org_id, "program_id": program_id, "contract_id": contract_id,
            "user_id": person["user_id"], "email": normalize_email(person["email"]),
            "full_name": person["full_name"], "external_id": person.get("external_id") or None, "state": "PENDING",
            "token_hash": hash_token(raw_token), "send_email": send_email, "invited_by": invited_by,
            "import_id": import_id, "import_row": import_row, "created_at": created, "expires_at": created + TTL,
            "last_sent_at": created if send_email else None, "send_count": 1 if send_email else 0}


def _created_item(values: dict, raw_token: str) -> dict:
    """One invitation of an import's invitations.invitations.created.v1 event."""
    return {"invitation_id": values["id"], "user_id": values["user_id"], "email": values["email"],
            "full_name": values["full_name"], "external_id": values["external_id"],
            "accept_url": accept_url(raw_token) if values["send_email"] else None,
            "expires_at": values["expires_at"].isoformat()}


def _created_payload(values: dict, program_name: str, raw_token: str, custom_message: str | None) -> dict:
    return {**_created_item(values, raw_token), "org_id": values["org_id"], "program_id": values["program_id"],
            "program_name": program_name, "contract_id": values["contract_id"], "send_email": values["send_email"],
            "custom_message": custom_message, "invited_by": values["invited_by"]}


def create_invitation(uow, org_id: str, program: dict, contract_id: str, person: dict, send_email: bool,
                      invited_by: str | None, custom_message: str | None) -> Invitation:
    """One invitation; the database refuses a second pending one for the same
    program and email (concurrent requests included)."""
    raw = secrets.token_urlsafe(32)
    values = _new_invitation_values(org_id, program["id"], contract_id, person, send_email, invited_by, raw)
    inserted = uow.session.execute(
        pg_insert(Invitation).values(values).on_conflict_do_nothing().returning(Invitation.id)).scalar()
    if inserted is None:
        raise AppError(ErrorCode.DUPLICATE_INVITATION, "a pending invitation to this program exists for this email",
                       {"email": [values["email"]]})
    uow.publish("invitations.invitation.created.v1", _created_payload(values, program["name"], raw, custom_message),
                org_id=org_id)
    return uow.session.get(Invitation, inserted)


def resend(uow, inv: Invitation, program_name: str, custom_message: str | None) -> Invitation:
    """A new link (the old one stops working) and a fresh expiry."""
    if inv.state != "PENDING":
        raise _closed_error(inv)
    raw = secrets.token_urlsafe(32)
    inv.token_hash = hash_token(raw)
    inv.expires_at = now() + TTL
    inv.last_sent_at = now()
    inv.send_count += 1
    uow.session.flush()
    uow.publish("invitations.invitation.resent.v1", {
        "invitation_id": inv.id, "org_id": inv.org_id, "program_id": inv.program_id, "program_name": program_name,
        "user_id": inv.user_id, "email": inv.email, "full_name": inv.full_name, "accept_url": accept_url(raw),
        "custom_message": custom_message, "expires_at": inv.expires_at.isoformat()}, org_id=inv.org_id)
    return inv


def resend_pending(uow, org_id: str, program_id: str, program_name: str, custom_message: str | None) -> int:
    """The funnel's quick action: resend every pending invitation of the program."""
    count = 0
    query = (select(Invitation).where(Invitation.org_id == org_id, Invitation.program_id == program_id,
                                      Invitation.state == "PENDING").with_for_update(skip_locked=True))
    for inv in uow.session.scalars(query):
        resend(uow, inv, program_name, custom_message)
        count += 1
    return count


# ---------------------------------------------------------------- closing


def _closed_error(inv: Invitation) -> AppError:
    if inv.state == "ACCEPTED":
        return AppError(ErrorCode.INVITATION_USED, "this invitation has already been accepted")
    if inv.state == "REVOKED":
        return AppError(ErrorCode.INVITATION_REVOKED, "this invitation has been withdrawn")
    return AppError(ErrorCode.INVITATION_EXPIRED, "this invitation has expired; ask for a new one")


def _revoked_payload(row, reason: str) -> dict:
    return {"invitation_id": row.id, "org_id": row.org_id, "program_id": row.program_id, "user_id": row.user_id,
            "email": row.email, "reason": reason}


def revoke(uow, org_id: str, invitation_ids: list[str], program_id: str | None = None) -> list[Invitation]:
    """Revoke pending invitations (admin action). Closed ones are refused."""
    invitations = []
    for invitation_id in invitation_ids:
        inv = get_invitation(uow, org_id, invitation_id, lock=True)
        if program_id and inv.program_id != program_id:
            raise not_found("invitation")
        if inv.state != "PENDING":
            raise _closed_error(inv)
        inv.state, inv.closed_at, inv.close_reason = "REVOKED", now(), "ADMIN"
        invitations.append(inv)
    uow.session.flush()
    uow.publish_many("invitations.invitation.revoked.v1", [(_revoked_payload(inv, "ADMIN"), org_id)
                                                            for inv in invitations])
    return invitations


def revoke_pending_of(uow, program_id: str, reason: str, user_id: str | None = None) -> int:
    """A member or a program was removed: their pending invitations go too."""
    condition = and_(Invitation.program_id == program_id, Invitation.state == "PENDING")
    if user_id:
        condition = and_(condition, Invitation.user_id == user_id)
    rows = uow.session.execute(
        update(Invitation).where(condition).values(state="REVOKED", closed_at=now(), close_reason=reason)
        .returning(Invitation.id, Invitation.org_id, Invitation.program_id, Invitation.user_id, Invitation.email)
    ).all()
    uow.publish_many("invitations.invitation.revoked.v1", [(_revoked_payload(r, reason), r.org_id) for r in rows])
    return len(rows)


def expire_due(uow, limit: int = EXPIRY_BATCH) -> int:
    """Pending invitations past their expiry become EXPIRED. Rows are claimed
    with SKIP LOCKED, so replicas running this at once never expire one twice."""
    rows = uow.session.execute(text(
        "UPDATE invitations SET state = 'EXPIRED', closed_at = now(), close_reason = 'EXPIRED' "
        "WHERE id IN (SELECT id FROM invitations WHERE state = 'PENDING' AND expires_at <= now() "
        "             ORDER BY expires_at LIMIT :limit FOR UPDATE SKIP LOCKED) "
        "RETURNING id, org_id, program_id, user_id, email"), {"limit": limit}).all()
    uow.publish_many("invitations.invitation.expired.v1", [
        ({"invitation_id": str(r.id), "org_id": str(r.org_id), "program_id": str(r.program_id),
          "user_id": str(r.user_id), "email": r.email}, str(r.org_id)) for r in rows])
    EXPIRED.inc(len(rows))
    return len(rows)


# ---------------------------------------------------------------- joining


def invitation_for_token(uow, raw_token: str, lock: bool = False) -> Invitation:
    """The invitation of a link; a used, revoked or expired one is a clear error."""
    query = select(Invitation).where(Invitation.token_hash == hash_token(raw_token or ""))
    inv = uow.session.scalar(query.with_for_update() if lock else query)
    if inv is None:
        raise AppError(ErrorCode.NOT_FOUND, "this invitation link is not valid (a resend replaces older links)")
    if inv.state != "PENDING":
        raise _closed_error(inv)
    if inv.expires_at <= now():
        raise AppError(ErrorCode.INVITATION_EXPIRED, "this invitation has expired; ask for a new one")
    return inv


def mark_accepted(uow, inv: Invitation, user_id: str) -> None:
    inv.state, inv.closed_at, inv.close_reason = "ACCEPTED", now(), "ACCEPTED"
    uow.session.flush()
    uow.publish("invitations.invitation.accepted.v1", {
        "invitation_id": inv.id, "org_id": inv.org_id, "program_id": inv.program_id, "user_id": user_id,
        "email": inv.email, "accepted_at": inv.closed_at.isoformat()}, org_id=inv.org_id)


def member_joined(uow, program_id: str, user_id: str) -> None:
    uow.session.execute(pg_insert(Member).values(program_id=program_id, user_id=user_id).on_conflict_do_nothing())


def member_left(uow, program_id: str, user_id: str | None = None) -> None:
    condition = Member.program_id == program_id
    if user_id:
        condition = and_(condition, Member.user_id == user_id)
    uow.session.execute(Member.__table__.delete().where(condition))


# ---------------------------------------------------------------- bulk import


def import_view(job: ImportJob) -> dict:
    return {"import_id": job.id, "program_id": job.program_id, "contract_id": job.contract_id,
            "filename": job.filename, "status": job.status, "error": job.error, "total_rows": job.total_rows,
            "processed_rows": job.processed_rows, "created": job.created, "duplicates": job.duplicates,
            "invalid": job.invalid, "created_at": job.created_at, "completed_at": job.completed_at}


def get_import(uow, org_id: str, import_id: str) -> ImportJob:
    try:
        key = str(uuid.UUID(str(import_id)))
    except ValueError:
        raise not_found("import") from None
    job = uow.session.get(ImportJob, key)
    if job is None or job.org_id != org_id:
        raise not_found("import")
    return job


def locate_import(uow, import_id: str) -> dict:
    try:
        key = str(uuid.UUID(str(import_id)))
    except ValueError:
        raise not_found("import") from None
    row = uow.session.execute(select(ImportJob.id, ImportJob.org_id, ImportJob.program_id)
                              .where(ImportJob.id == key)).first()
    if row is None:
        raise not_found("import")
    return {"id": row.id, "org_id": row.org_id, "program_id": row.program_id}


def start_import(uow, org_id: str, program: dict, contract_id: str, send_email: bool, invited_by: str | None,
                 custom_message: str | None, filename: str | None, content: bytes) -> ImportJob:
    """Check the file as a whole (encoding, headers, CSV) and record the job;
    the rows are processed by the import worker."""
    total = csvfile.count_rows(csvfile.decode(content))
    if total == 0:
        raise csvfile.bad_file("the file has a header row but no rows to import")
    job = ImportJob(org_id=org_id, program_id=program["id"], program_name=program["name"], contract_id=contract_id,
                    send_email=send_email, invited_by=invited_by, custom_message=custom_message,
                    filename=(filename or "")[:255] or None, content=content, size_bytes=len(content),
                    status="PENDING", total_rows=total, processed_rows=0, next_record=2, created=0, duplicates=0,
                    invalid=0, attempts=0)
    uow.session.add(job)
    uow.session.flush()
    return job


def claim_import(uow) -> tuple[str, str] | None:
    """Take the oldest import nobody works on (new, or whose worker's lease ran
    out: it crashed). Returns (import_id, lease_owner)."""
    owner = str(uuid.uuid4())
    row = uow.session.execute(text(
        "UPDATE import_jobs SET status = 'RUNNING', lease_owner = :owner, attempts = attempts + 1, "
        "       lease_until = now() + make_interval(secs => :lease), started_at = coalesce(started_at, now()) "
        "WHERE id = (SELECT id FROM import_jobs WHERE status IN ('PENDING', 'RUNNING') "
        "            AND (lease_until IS NULL OR lease_until < now()) "
        "            ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED) "
        "RETURNING id, attempts"), {"owner": owner, "lease": LEASE_SECONDS}).first()
    if row is None:
        return None
    if row.attempts > MAX_IMPORT_ATTEMPTS:
        _finish(uow, str(row.id), "FAILED", "the import failed repeatedly; upload the file again")
        return None
    return str(row.id), owner


class LeaseLost(Exception):
    """Another worker took the import over (this one stalled past its lease)."""


def run_import(uow, import_id: str, owner: str, ensure_people, batch_size: int = IMPORT_BATCH) -> None:
    """Process the rows from where the last committed batch stopped, committing
    each batch with its progress, then complete the job.

    Pipelined: while one batch is stored, the next is screened and its people
    asked of identity (a read on its own connection and an RPC; the unit of
    work stays with the storing side)."""
    job = uow.session.get(ImportJob, import_id)
    seen: set[str] = set()  # emails of this run's earlier rows (their batch may not be committed yet)
    try:
        batches = _batches(csvfile.rows(csvfile.decode(job.content), job.next_record), batch_size)
        ahead = _spawn_prepare(uow, job, next(batches, None), seen, ensure_people)
        while ahead is not None:
            prepared = ahead.wait()
            ahead = _spawn_prepare(uow, job, next(batches, None), seen, ensure_people)
            try:
                _store(uow, job, owner, prepared)
                uow.commit()
            except BaseException:
                if ahead is not None:
                    ahead.kill()
                raise
    except AppError as exc:
        if exc.code not in (ErrorCode.INVALID_FILE, ErrorCode.PAYLOAD_TOO_LARGE):
            raise
        uow.rollback()
        _finish(uow, import_id, "FAILED", exc.message)
        return
    _finish(uow, import_id, "COMPLETED", None, owner)


def _batches(rows, size: int):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _spawn_prepare(uow, job: ImportJob, batch: list | None, seen: set, ensure_people):
    if batch is None:
        return None
    return eventlet.spawn(_prepare, uow, job, batch, seen, ensure_people)


def _finish(uow, import_id: str, status: str, error: str | None, owner: str | None = None) -> None:
    condition = ImportJob.id == import_id
    if owner:
        condition = and_(condition, ImportJob.lease_owner == owner)
    job = uow.session.execute(
        update(ImportJob).where(condition)
        .values(status=status, error=error, completed_at=now(), lease_until=None, lease_owner=None, content=b"")
        .returning(ImportJob)).scalar()
    if job is None:
        raise LeaseLost(import_id)
    uow.publish("invitations.import.completed.v1", {
        "import_id": job.id, "org_id": job.org_id, "program_id": job.program_id, "contract_id": job.contract_id,
        "total_rows": job.total_rows, "created": job.created, "duplicates": job.duplicates,
        "invalid": job.invalid}, org_id=job.org_id)


def _people(ensure_people, org_id: str, rows: list) -> list[dict | str]:
    """identity's person for each row (or the reason identity refused it),
    asked in chunks, a few at a time."""
    people = [{"email": r.email, "full_name": r.full_name, "external_id": r.external_id} for r in rows]
    chunks = [people[i:i + IDENTITY_CHUNK] for i in range(0, len(people), IDENTITY_CHUNK)]
    pool = eventlet.GreenPool(IDENTITY_CONCURRENCY)
    answers = pool.imap(lambda chunk: retrying_race(ensure_people, org_id, chunk), chunks)
    return [_reason_of(answer["error"]) if "error" in answer else answer for chunk in answers for answer in chunk]


def retrying_race(call, *args):
    """identity inserts accounts with ON CONFLICT, but two calls giving one
    external id to two new people at the same moment still collide on its
    unique index (an IntegrityError); asked again, identity finds the holder
    and refuses that person with a reason."""
    try:
        return call(*args)
    except RemoteError as exc:
        if exc.exc_type != "IntegrityError":
            raise
        return call(*args)


def _reason_of(error: dict) -> str:
    details = error.get("details") if isinstance(error.get("details"), dict) else {}
    fields = "; ".join(f"{key}: {', '.join(map(str, value)) if isinstance(value, list) else value}"
                       for key, value in details.items())
    return f"{error['message']} ({fields})" if fields else error["message"]


INSERT_COLUMNS = {  # column: PostgreSQL type, for inserting a batch (servicekit.bulk)
    "id": "uuid", "org_id": "uuid", "program_id": "uuid", "contract_id": "uuid", "user_id": "uuid", "email": "text",
    "full_name": "text", "external_id": "text", "state": "text", "token_hash": "text", "send_email": "boolean",
    "invited_by": "uuid", "import_id": "uuid", "import_row": "integer", "created_at": "timestamptz",
    "expires_at": "timestamptz", "last_sent_at": "timestamptz", "send_count": "integer"}


REJECTED_COLUMNS = {"row_number": "integer", "full_name": "text", "email": "text", "external_id": "text",
                    "kind": "text", "reason": "text"}


def _insert_invitations(uow, rows: list[dict]) -> set[str]:
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


def _prepare(uow, job: ImportJob, batch: list, seen: set, ensure_people) -> Prepared:
    """Check the rows, drop duplicates (in the file, or pending already) and
    ask identity for the people of the others."""
    began = time.perf_counter()
    rejected: list[tuple] = []  # (row, kind, reason)
    candidates = []
    for row in batch:
        reason = csvfile.problem(row)
        if reason:
            rejected.append((row, "INVALID", reason))
            continue
        row.email = normalize_email(row.email)
        if row.email in seen:
            rejected.append((row, "DUPLICATE", "duplicate: the email appears earlier in the file"))
            continue
        seen.add(row.email)
        candidates.append(row)

    pending = _pending(uow, job, [r.email for r in candidates]) if candidates else {}
    fresh = []
    for row in candidates:
        if row.email in pending:
            rejected.append((row, "DUPLICATE", "duplicate: the email appears earlier in the file"
                             if pending[row.email] == job.id else "duplicate: a pending invitation exists"))
        else:
            fresh.append(row)
    asked = time.perf_counter()
    people = _people(ensure_people, job.org_id, fresh) if fresh else []
    return Prepared(batch, rejected, fresh, people, began, time.perf_counter() - asked)


def _pending(uow, job: ImportJob, emails: list[str]) -> dict[str, str | None]:
    """email -> import id of the pending invitations to the job's program."""
    session = uow.independent_session()
    try:
        return dict(session.execute(select(Invitation.email, Invitation.import_id).where(
            Invitation.program_id == job.program_id, Invitation.state == "PENDING",
            Invitation.email.in_(emails))).all())
    finally:
        session.close()


def _store(uow, job: ImportJob, owner: str, prepared: Prepared) -> None:
    """Insert the batch's invitations, its rejected rows and its progress."""
    batch, rejected, fresh, people = prepared.batch, prepared.rejected, prepared.fresh, prepared.people
    members = set(uow.session.scalars(select(Member.user_id).where(
        Member.program_id == job.program_id,
        Member.user_id.in_([p["user_id"] for p in people if isinstance(p, dict)])))) if people else set()
    to_insert = []  # (values, raw token)
    for row, person in zip(fresh, people, strict=True):
        if isinstance(person, str):
            rejected.append((row, "INVALID", person))
        elif person["user_id"] in members:
            rejected.append((row, "DUPLICATE", "duplicate: already a member of the program"))
        else:
            raw = secrets.token_urlsafe(32)
            person = {**person, "email": row.email, "full_name": row.full_name, "external_id": row.external_id}
            to_insert.append((_new_invitation_values(job.org_id, job.program_id, job.contract_id, person,
                                                     job.send_email, job.invited_by, raw, job.id, row.number), raw))

    created = _insert_invitations(uow, [values for values, _ in to_insert])
    items = []
    by_number = {row.number: row for row in fresh}
    for values, raw in to_insert:
        if values["id"] in created:
            items.append(_created_item(values, raw))
        else:  # a concurrent single invitation got there first
            rejected.append((by_number[values["import_row"]], "DUPLICATE", "duplicate: a pending invitation exists"))
    if items:
        uow.publish("invitations.invitations.created.v1", {
            "import_id": job.id, "org_id": job.org_id, "program_id": job.program_id, "program_name": job.program_name,
            "contract_id": job.contract_id, "send_email": job.send_email, "custom_message": job.custom_message,
            "invited_by": job.invited_by, "invitations": items}, org_id=job.org_id)
    if rejected:
        insert_rows(uow.session, "import_rejected_rows", REJECTED_COLUMNS, [
            {"row_number": row.number, "full_name": row.full_name, "email": row.email, "external_id": row.external_id,
             "kind": kind, "reason": reason} for row, kind, reason in rejected],
            "ON CONFLICT DO NOTHING", constants={"import_id": ("uuid", job.id)})
    duplicates = sum(1 for _, kind, _ in rejected if kind == "DUPLICATE")
    invalid = len(rejected) - duplicates
    progressed = uow.session.execute(
        update(ImportJob).where(ImportJob.id == job.id, ImportJob.lease_owner == owner)
        .values(next_record=batch[-1].number + 1, processed_rows=ImportJob.processed_rows + len(batch),
                created=ImportJob.created + len(created), duplicates=ImportJob.duplicates + duplicates,
                invalid=ImportJob.invalid + invalid,
                lease_until=text(f"now() + make_interval(secs => {LEASE_SECONDS})"))
        .returning(ImportJob.id)).first()
    if progressed is None:
        raise LeaseLost(job.id)
    IMPORT_ROWS.labels("created").inc(len(created))
    IMPORT_ROWS.labels("duplicate").inc(duplicates)
    IMPORT_ROWS.labels("invalid").inc(invalid)
    log.info("import %s: records %d-%d in %.2f s (identity %.2f s)", job.id, batch[0].number, batch[-1].number,
             time.perf_counter() - prepared.began, prepared.identity_seconds)


def rejected_rows(uow, org_id: str, import_id: str) -> str:
    job = get_import(uow, org_id, import_id)
    rows = uow.session.execute(
        select(RejectedRow.row_number, RejectedRow.full_name, RejectedRow.email, RejectedRow.external_id,
               RejectedRow.reason).where(RejectedRow.import_id == job.id).order_by(RejectedRow.row_number))
    return csvfile.rejected_csv(rows)


def preview(org: dict, program: dict, contract: dict, learner: dict, warnings: list[str]) -> dict:
    """What will be created and the email that will be sent (messaging renders
    the same subject and message)."""
    message = org.get("default_invitation_message")
    subject = f"{org['name']} invites you to {program['name']}"
    body = [f"Hello {learner['full_name']},", "", f"{org['name']} invites you to join {program['name']}."]
    if message:
        body += ["", message]
    body += ["", f"The invitation is valid for {TTL.days} days."]
    return {
        "learner": {"full_name": learner["full_name"], "email": normalize_email(learner["email"]),
                    "external_id": learner.get("external_id")},
        "program": {"id": program["id"], "name": program["name"], "slug": program.get("slug")},
        "contract": {"id": contract["id"], "name": contract["name"], "licenses_free": contract.get("licenses_free")},
        "organization": {"id": org["id"], "name": org["name"], "brand_color": org.get("brand_color"),
                         "logo_url": org.get("logo_url")},
        "email": {"subject": subject, "text": "\n".join(body), "custom_message": message},
        "warnings": warnings,
    }

