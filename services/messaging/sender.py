"""The delivery loop: claim QUEUED deliveries in the database, send them over
SMTP, record each outcome.

States: QUEUED -> CLAIMED (a sender holds a batch, with a lease and a claim
token) -> SENDING (committed just before this one email goes to the SMTP
server) -> SENT (committed once the server accepted it) / FAILED / back to
QUEUED with a backoff.

Restart safety: a crashed sender leaves CLAIMED rows (never handed to SMTP:
put back to QUEUED when the lease expires, so nobody is skipped) and at most
one SENDING row per connection (the server may or may not have accepted it:
marked FAILED "outcome unknown", so nobody is sent twice). That one email per
crashed connection is the at-most-once window."""
import logging
import smtplib
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import eventlet
from prometheus_client import Counter
from sqlalchemy import text

from contracts.messaging import DELIVERY_FAILED, DeliveryState
from servicekit.config import Settings, setting
from servicekit.db import UnitOfWork
from services.messaging.commands.messages import complete_messages
from services.messaging.compose import prepare_emails
from services.messaging.models import DUE, FIRST, SHARED
from services.messaging.render import SECRET_LINK_FIELDS
from services.messaging.settings import MessagingSettings

log = logging.getLogger(__name__)

EMAILS = Counter("learnadmin_messaging_emails_total", "Deliveries by outcome", ["outcome"])
for _outcome in ("sent", "retry", "failed"):
    EMAILS.labels(_outcome)  # at 0 from start
# A final delivery keeps no login link (anyone reading the table could use it): every statement
# that makes a delivery final sets its context to this (the context without those keys).
WITHOUT_LINKS = "context - ARRAY[{}]::text[]".format(", ".join(f"'{k}'" for k in SECRET_LINK_FIELDS))


def _optional(raw: str) -> str | None:
    return raw or None


@dataclass(frozen=True)
class SmtpSettings(Settings):
    """Read at every tick (see settings.py): new credentials need no restart."""

    host: str = setting("SMTP_HOST", "127.0.0.1")
    port: int = setting("SMTP_PORT", 1025)
    starttls: bool = setting("SMTP_STARTTLS", False)
    use_ssl: bool = setting("SMTP_SSL", False)
    ca_file: str | None = setting("SMTP_CA_FILE", None, parse=_optional)
    user: str | None = setting("SMTP_USER", None, parse=_optional)
    password: str | None = setting("SMTP_PASSWORD", None, parse=_optional, secret=True)
    timeout: float = setting("SMTP_TIMEOUT", 30.0)
    connections: int = setting("SMTP_CONNECTIONS", 8)
    batch_size: int = setting("SMTP_BATCH_SIZE", 100)
    max_attempts: int = setting("SMTP_MAX_ATTEMPTS", 10)
    retry_base: float = setting("SMTP_RETRY_BASE_SECONDS", 2.0)
    claim_lease: float = setting("SMTP_CLAIM_LEASE_SECONDS", 60.0)
    rate_per_second: float = setting("SMTP_RATE_PER_SECOND", 0.0)  # 0: unlimited


def smtp_settings() -> SmtpSettings:
    return SmtpSettings.from_env()


def tls_context(smtp: SmtpSettings) -> ssl.SSLContext:
    """Certificates are verified, against the system's CAs or `SMTP_CA_FILE`
    (a relay with a private CA)."""
    return ssl.create_default_context(cafile=smtp.ca_file)


def connect(smtp: SmtpSettings) -> smtplib.SMTP:
    if smtp.use_ssl:
        server = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=tls_context(smtp))
    else:
        server = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    try:
        if smtp.starttls and not smtp.use_ssl:
            server.starttls(context=tls_context(smtp))
        if smtp.user:
            server.login(smtp.user, smtp.password or "")
    except BaseException:
        server.close()
        raise
    return server


# ---- database steps (each commits) ------------------------------------------


def recover_expired(uow: UnitOfWork) -> None:
    """Leases of crashed senders: unsent claims go back to the queue; an email
    that was in the SMTP conversation is not retried (it may have arrived)."""
    uow.session.execute(text(
        f"UPDATE deliveries SET state = '{DeliveryState.QUEUED}', claim_token = NULL, lease_until = NULL "
        f"WHERE state = '{DeliveryState.CLAIMED}' AND lease_until < now()"))
    failed = uow.session.execute(text(
        f"UPDATE deliveries SET state = '{DeliveryState.FAILED}', lease_until = NULL, context = {WITHOUT_LINKS}, "
        "last_error = 'interrupted while talking to the SMTP server; outcome unknown, not resent' "
        f"WHERE state = '{DeliveryState.SENDING}' AND lease_until < now() "
        "RETURNING id, org_id, recipient, template, message_id"
    )).all()
    for row in failed:
        _announce_failure(uow, row, "outcome unknown after a crash")
    complete_messages(uow, {row.message_id for row in failed if row.message_id})
    uow.commit()


RETURNED = "RETURNING id, org_id, template, category, message_id, recipient, user_id, full_name, context, attempts"
CLAIM = (f"UPDATE deliveries SET state = '{DeliveryState.CLAIMED}', claim_token = :token, "
         "lease_until = now() + make_interval(secs => :lease) WHERE id IN ({chosen}) " + RETURNED)
# Account emails first, oldest first.
ACCOUNT_FIRST = (f"SELECT id FROM deliveries WHERE {DUE} AND {FIRST} AND next_attempt_at <= now() "
                 "ORDER BY next_attempt_at, id LIMIT :n FOR UPDATE SKIP LOCKED")
# The rest fairly: the organizations with due mail (found by skipping through an index, so as
# cheap with 100,000 queued rows as with 10), an equal share of the batch each, oldest first
# within each. An organization's large message never holds up another organization's mail.
FAIR_SHARES = f"""
    WITH RECURSIVE orgs(org_id) AS (
        (SELECT org_id FROM deliveries WHERE {DUE} AND {SHARED} ORDER BY org_id LIMIT 1)
        UNION ALL
        SELECT (SELECT d.org_id FROM deliveries d WHERE d.{DUE} AND {SHARED}
                AND d.org_id > orgs.org_id ORDER BY d.org_id LIMIT 1)
        FROM orgs WHERE orgs.org_id IS NOT NULL),
    due AS (SELECT o.org_id FROM orgs o WHERE o.org_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM deliveries d WHERE d.{DUE} AND {SHARED} AND d.org_id = o.org_id
        AND d.next_attempt_at <= now())),
    share AS (SELECT (:n + count(*) - 1) / GREATEST(count(*), 1) AS n FROM due)
    SELECT picked.id FROM due CROSS JOIN share CROSS JOIN LATERAL (
        SELECT d.id FROM deliveries d WHERE d.{DUE} AND {SHARED} AND d.org_id = due.org_id
        AND d.next_attempt_at <= now() ORDER BY d.next_attempt_at, d.id LIMIT share.n FOR UPDATE SKIP LOCKED
    ) picked LIMIT :n"""


def claim(uow: UnitOfWork, smtp: SmtpSettings) -> tuple[str, list]:
    """A batch of due deliveries for this sender: account emails first, then
    every organization's mail in equal shares."""
    token = str(uuid.uuid4())
    params = {"token": token, "lease": smtp.claim_lease, "n": smtp.batch_size}
    first = sorted(uow.session.execute(text(CLAIM.format(chosen=ACCOUNT_FIRST)), params).all(), key=lambda r: r.id)
    shared = []
    if len(first) < smtp.batch_size:
        params["n"] = smtp.batch_size - len(first)
        shared = uow.session.execute(text(CLAIM.format(chosen=FAIR_SHARES)), params).all()
    uow.commit()
    return token, first + interleave(shared)


def interleave(rows: list) -> list:
    """Sending order within a batch: one email of each organization in turn (oldest first within each)."""
    turn = {}
    ranked = []
    for row in sorted(rows, key=lambda r: r.id):
        turn[row.org_id] = turn.get(row.org_id, -1) + 1
        ranked.append((turn[row.org_id], row.id, row))
    return [row for *_, row in sorted(ranked, key=lambda t: t[:2])]


def _release(uow: UnitOfWork, token: str, ids: list[int], error: str | None, smtp: SmtpSettings,
             count_attempt: bool) -> None:
    """Give claimed deliveries back to the queue (later, if this was a failed try)."""
    for delivery_id in ids:
        if count_attempt:
            _retry_or_fail(uow, token, delivery_id, error, smtp)
        else:
            uow.session.execute(text(
                f"UPDATE deliveries SET state = '{DeliveryState.QUEUED}', claim_token = NULL, lease_until = NULL "
                f"WHERE id = :id AND claim_token = :token AND state = '{DeliveryState.CLAIMED}'"),
                {"id": delivery_id, "token": token})
    uow.commit()


def _retry_or_fail(uow: UnitOfWork, token: str, delivery_id: int, error: str, smtp: SmtpSettings) -> None:
    row = uow.session.execute(text(
        "UPDATE deliveries SET attempts = attempts + 1, last_error = :error, claim_token = NULL, lease_until = NULL, "
        f"state = CASE WHEN attempts + 1 >= :max THEN '{DeliveryState.FAILED}' ELSE '{DeliveryState.QUEUED}' END, "
        f"context = CASE WHEN attempts + 1 >= :max THEN {WITHOUT_LINKS} ELSE context END, "
        "next_attempt_at = now() + make_interval(secs => :base * power(2, LEAST(attempts, 12))) "
        "WHERE id = :id AND claim_token = :token "
        "RETURNING id, state, org_id, recipient, template, message_id"
    ), {"error": error[:2000], "max": smtp.max_attempts, "base": smtp.retry_base, "id": delivery_id,
        "token": token}).first()
    if row is not None and row.state == DeliveryState.FAILED:
        EMAILS.labels("failed").inc()
        _announce_failure(uow, row, error)
    elif row is not None:
        EMAILS.labels("retry").inc()


def _fail(uow: UnitOfWork, token: str, delivery_id: int, error: str) -> None:
    row = uow.session.execute(text(
        f"UPDATE deliveries SET state = '{DeliveryState.FAILED}', attempts = attempts + 1, last_error = :error, "
        f"context = {WITHOUT_LINKS}, claim_token = NULL, lease_until = NULL WHERE id = :id AND claim_token = :token "
        "RETURNING id, org_id, recipient, template, message_id"), {"error": error[:2000], "id": delivery_id,
                                                                  "token": token}).first()
    if row is not None:
        EMAILS.labels("failed").inc()
        _announce_failure(uow, row, error)


def delivery_failed_payload(row, error: str) -> dict:
    return {"delivery_id": str(row.id), "org_id": row.org_id, "email": row.recipient, "template": row.template,
            "error": error[:500]}


def _announce_failure(uow: UnitOfWork, row, error: str) -> None:
    uow.publish(DELIVERY_FAILED, delivery_failed_payload(row, error), row.org_id)


# ---- the loop ---------------------------------------------------------------


MARK_SENT = (
    f"UPDATE deliveries SET state = '{DeliveryState.SENT}', sent_at = now(), attempts = attempts + 1, "
    "smtp_message_id = :mid, "
    f"context = {WITHOUT_LINKS}, "
    "last_error = NULL, claim_token = NULL, lease_until = NULL WHERE id = :sent_id AND claim_token = :token;")
MARK_SENDING = (
    f"UPDATE deliveries SET state = '{DeliveryState.SENDING}', lease_until = now() + make_interval(secs => :lease) "
    f"WHERE id = :id AND claim_token = :token AND state = '{DeliveryState.CLAIMED}';")


class Marks:
    """The per-email bookkeeping in one autocommit round trip: SENT for the
    previous email (accepted by the server) together with SENDING for the next.
    The at-most-once window stays one email: an accepted email whose SENT is
    not yet written is SENDING in the database."""

    def __init__(self, conn, token: str, lease: float):
        self.conn, self.token, self.lease = conn, token, lease
        self.accepted = None  # (delivery id, Message-ID) waiting to be recorded as SENT

    def sending(self, delivery_id: int) -> bool:
        params = {"id": delivery_id, "token": self.token, "lease": self.lease}
        sql = MARK_SENDING
        if self.accepted:
            sql = MARK_SENT + sql
            params.update(sent_id=self.accepted[0], mid=self.accepted[1])
        marked = self.conn.execute(text(sql), params).rowcount  # the last statement's count
        self.accepted = None
        return marked == 1

    def sent(self, delivery_id: int, message_id: str) -> None:
        self.accepted = (delivery_id, message_id)
        EMAILS.labels("sent").inc()

    def flush(self) -> None:
        if self.accepted:
            self.conn.execute(text(MARK_SENT), {"sent_id": self.accepted[0], "mid": self.accepted[1],
                                                "token": self.token})
            self.accepted = None


def send_batch(uow: UnitOfWork, settings: MessagingSettings, smtp: SmtpSettings, token: str, rows: list) -> int:
    prepared = prepare_emails(uow.session, settings, rows)
    uow.commit()
    try:
        server = connect(smtp)
    except (OSError, smtplib.SMTPException) as exc:
        # Server down or refusing us: every email of the batch waits for a later try.
        log.warning("SMTP server unavailable: %s", exc)
        _release(uow, token, [r.id for r in rows], f"SMTP unavailable: {exc}", smtp, count_attempt=True)
        return -1
    sent = 0
    options = ["BODY=8BITMIME"] if server.has_extn("8bitmime") else []
    remaining = [r.id for r in rows]
    with uow.session.get_bind().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # Long enough for one SMTP transaction (MAIL, RCPT, DATA, the content), each bounded by the timeout.
        marks = Marks(conn, token, smtp.timeout * 4 + 5)
        try:
            for row in rows:
                remaining.remove(row.id)
                email = prepared.get(row.id)
                if email is None:
                    marks.flush()
                    _fail(uow, token, row.id, "could not render the email")
                    uow.commit()
                    continue
                if not marks.sending(row.id):
                    continue  # our lease expired and someone else has it now
                try:
                    server.sendmail(settings.mail_from, [row.recipient], email.data, mail_options=options)
                except smtplib.SMTPRecipientsRefused as exc:
                    marks.flush()
                    code, reason = next(iter(exc.recipients.values()))
                    _outcome_for_code(uow, token, row.id, code, reason, smtp)
                except smtplib.SMTPResponseException as exc:
                    # One email refused (the connection stays usable).
                    marks.flush()
                    _outcome_for_code(uow, token, row.id, exc.smtp_code, exc.smtp_error, smtp)
                except (OSError, smtplib.SMTPException) as exc:
                    # The server went away mid-conversation without accepting this one: retry it.
                    marks.flush()
                    _retry_or_fail(uow, token, row.id, f"SMTP connection lost: {exc}", smtp)
                    uow.commit()
                    _release(uow, token, remaining, None, smtp, count_attempt=False)
                    return sent
                else:
                    marks.sent(row.id, email.message_id)
                    sent += 1
                uow.commit()
        finally:
            marks.flush()
            try:
                server.quit()
            except (OSError, smtplib.SMTPException):
                server.close()
    return sent


def _outcome_for_code(uow: UnitOfWork, token: str, delivery_id: int, code: int, reason, smtp: SmtpSettings) -> None:
    error = f"{code} {reason.decode(errors='replace') if isinstance(reason, bytes) else reason}"
    if 400 <= code < 500:
        _retry_or_fail(uow, token, delivery_id, error, smtp)  # temporary: try again later
    else:
        _fail(uow, token, delivery_id, error)  # permanent (5xx): keep the reason


def run_once(new_unit: Callable[[], UnitOfWork], settings: MessagingSettings, smtp: SmtpSettings,
             deadline: float, on_full_batch: Callable[[], None] = lambda: None) -> int:
    """One sender: batches until nothing is due, the server is down, or the
    deadline (time.monotonic) passes. A full batch means more is waiting:
    `on_full_batch` may start another sender."""
    began = time.monotonic()
    total = 0
    # Optional pacing for mail servers with a sending quota: this sender's share of the rate.
    per_second = smtp.rate_per_second / smtp.connections if smtp.rate_per_second else 0
    uow = new_unit()
    try:
        while time.monotonic() < deadline:
            if per_second and total:
                eventlet.sleep(max(0.0, began + total / per_second - time.monotonic()))
            token, rows = claim(uow, smtp)
            if not rows:
                break
            if len(rows) == smtp.batch_size:
                on_full_batch()
            message_ids = {r.message_id for r in rows if r.message_id}
            sent = send_batch(uow, settings, smtp, token, rows)
            complete_messages(uow, message_ids)
            uow.commit()
            if sent < 0:
                break
            total += sent
    finally:
        uow.rollback()
        uow.close()
    return total


def run(new_unit: Callable[[], UnitOfWork], settings: MessagingSettings, smtp: SmtpSettings | None = None,
        budget_seconds: float = 5.0) -> int:
    """Up to SMTP_CONNECTIONS senders in parallel (one SMTP connection and one
    unit of work each), sharing the queue. One starts; each full batch claimed
    starts another while fewer than SMTP_CONNECTIONS run, so an idle queue
    costs one query per tick and one database connection, not one per sender."""
    smtp = smtp or smtp_settings()
    recovery = new_unit()
    try:
        recover_expired(recovery)
    finally:
        recovery.close()
    deadline = time.monotonic() + budget_seconds
    pool = eventlet.GreenPool(smtp.connections)
    senders = []

    def start_sender() -> None:
        if len(senders) < smtp.connections:
            senders.append(pool.spawn(run_once, new_unit, settings, smtp, deadline, start_sender))

    start_sender()
    pool.waitall()
    return sum(sender.wait() for sender in senders)
