"""Transactional outbox.

`record_event` writes the event into `kit_outbox` inside the caller's
transaction. `OutboxRelay` publishes committed rows to the `<service>.events`
topic exchange, routing key = event type (what plain nameko `@event_handler`
binds to), with publisher confirms. Rows are claimed with
`FOR UPDATE SKIP LOCKED`, so any number of replicas relay the same table
without publishing a row twice at once; a failed publish is retried with
exponential backoff and the row keeps its last error."""
import json
import logging
import threading
import time

import kombu
from prometheus_client import Counter, Gauge
from sqlalchemy import text
from sqlalchemy.orm import Session

from contracts.envelope import make_envelope, make_envelopes
from contracts.registry import Event
from servicekit import config
from servicekit.broker import CONNECTION_ERRORS
from servicekit.bulk import insert_rows
from servicekit.context import actor, client_address, correlation_id
from servicekit.observability import record_postgres_connections

log = logging.getLogger(__name__)

OUTBOX_PENDING = Gauge("learnadmin_outbox_pending_events", "Committed events not yet published", ["service"])
OUTBOX_LAG = Gauge("learnadmin_outbox_lag_seconds", "Age of the oldest unpublished event", ["service"])
OUTBOX_PUBLISHED = Counter("learnadmin_outbox_published_total", "Events published from the outbox", ["service"])
OUTBOX_FAILURES = Counter("learnadmin_outbox_publish_failures_total", "Failed outbox publish attempts", ["service"])

BATCH_SIZE = 200
POLL_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 5.0  # the broker is retried at least this often: back within seconds of its return
RETENTION = "7 days"  # published outbox rows, kept for inspection
# Processed-event records make redeliveries no-ops; a redelivery comes within
# minutes or hours, never weeks later (a parked event was never processed).
PROCESSED_RETENTION_DAYS = int(config.env("KIT_PROCESSED_RETENTION_DAYS", "30"))
PURGE_BATCH = 10_000


def exchange_name(source_service: str) -> str:
    """nameko's event exchange naming: `<service>.events`."""
    return f"{source_service}.events"


def record_event(session: Session, source: str, event: Event | str, payload: dict, org_id: str | None) -> str:
    """Record one event in the caller's transaction; returns its id."""
    envelope = make_envelope(event, payload, source=source, org_id=org_id, correlation_id=correlation_id(),
                             actor=actor(), client_address=client_address())
    _insert_envelopes(session, source, envelope["type"], [envelope])
    return envelope["id"]


def record_events(session: Session, source: str, event: Event | str, items: list[tuple[dict, str | None]]) -> None:
    """Record many events of one type, given as (payload, org_id), with one
    statement (bulk operations; checked as `make_envelopes` says)."""
    if items:
        envelopes = make_envelopes(event, items, source=source, correlation_id=correlation_id(), actor=actor(),
                                   client_address=client_address())
        _insert_envelopes(session, source, envelopes[0]["type"], envelopes)


def _insert_envelopes(session: Session, source: str, event_type: str, envelopes: list[dict]) -> None:
    insert_rows(session, "kit_outbox", {"event_id": "uuid", "envelope": "jsonb"},
                [{"event_id": e["id"], "envelope": json.dumps(e)} for e in envelopes],
                constants={"event_type": ("text", event_type), "exchange": ("text", exchange_name(source))})


def purge_expired(conn) -> int:
    """Delete published outbox rows and processed-event records past their
    retention, a bounded batch of each per call (the relay calls it every few
    seconds). Returns how many rows went."""
    outbox = conn.execute(text(
        "DELETE FROM kit_outbox WHERE id IN (SELECT id FROM kit_outbox "
        f"WHERE published_at < now() - interval '{RETENTION}' LIMIT {PURGE_BATCH})")).rowcount
    processed = conn.execute(text(
        "DELETE FROM kit_processed_events WHERE (event_id, handler) IN (SELECT event_id, handler "
        "FROM kit_processed_events WHERE processed_at < now() - make_interval(days => :days) "
        f"LIMIT {PURGE_BATCH})"), {"days": PROCESSED_RETENTION_DAYS}).rowcount
    return outbox + processed


class OutboxRelay:
    def __init__(self, engine, service: str, broker_url: str, poll_seconds: float = POLL_SECONDS):
        self.engine = engine
        self.service = service
        self.broker_url = broker_url
        self.poll_seconds = poll_seconds
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._running = True
        self._connection: kombu.Connection | None = None
        self._backoff = 0.0
        self._last_gauges = 0.0
        for metric in (OUTBOX_PENDING, OUTBOX_LAG, OUTBOX_PUBLISHED, OUTBOX_FAILURES):
            metric.labels(service)  # at 0 from start: rate() sees the first failure

    def wake(self) -> None:
        self._wakeup.set()

    def stop(self) -> None:
        """Signal only: the relay thread closes its own connection on the way
        out (closing it from here could race a read in progress)."""
        self._running = False
        self._stopping.set()
        self._wakeup.set()

    def run(self) -> None:
        try:
            self._loop()
        finally:
            self._close_connection()

    def _loop(self) -> None:
        while self._running:
            if self._backoff:
                self._stopping.wait(self._backoff)  # the broker is away: only stop() cuts the wait short
            else:
                self._wakeup.wait(self.poll_seconds)
            self._wakeup.clear()
            if not self._running:
                break
            try:
                while self._running and self.relay_batch() == BATCH_SIZE:
                    pass
                self._backoff = 0.0
            except Exception as exc:
                OUTBOX_FAILURES.labels(self.service).inc()
                self._close_connection()
                self._backoff = min(MAX_BACKOFF_SECONDS, max(0.5, self._backoff * 2))
                log.warning(
                    "outbox relay failed, retrying in %.1fs: %s", self._backoff, exc,
                    extra={"service": self.service},
                )
            self._update_gauges()

    def relay_batch(self) -> int:
        """Publish up to BATCH_SIZE due rows; returns how many were claimed."""
        published: list[int] = []
        with self.engine.begin() as conn:
            rows = conn.execute(
                text(
                    # the envelope as stored JSON text: published as is, not decoded and encoded again
                    "SELECT id, event_id::text AS event_id, event_type, exchange, envelope::text AS body, "
                    "       envelope->>'correlation_id' AS correlation_id FROM kit_outbox "
                    "WHERE published_at IS NULL AND next_attempt_at <= now() "
                    "ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED"
                ),
                {"n": BATCH_SIZE},
            ).all()
            if not rows:
                return 0
            try:
                producer = self._producer()
                for row in rows:
                    self._publish(producer, row)
                    published.append(row.id)
            except Exception as exc:
                failed = rows[len(published)]
                # A broker outage is no fault of the row: only the relay backs off
                # (MAX_BACKOFF_SECONDS), so no row lags behind once the broker is back.
                row_backoff = "" if isinstance(exc, CONNECTION_ERRORS) else (
                    ", next_attempt_at = now() + make_interval(secs => least(60, power(2, attempts)))")
                conn.execute(
                    text(f"UPDATE kit_outbox SET attempts = attempts + 1, last_error = :err{row_backoff} "
                         "WHERE id = :id"),
                    {"id": failed.id, "err": f"{exc.__class__.__name__}: {exc}"[:1000]},
                )
                self._mark_published(conn, published)
                raise
            self._mark_published(conn, published)
        return len(rows)

    def _mark_published(self, conn, ids: list[int]) -> None:
        if ids:
            conn.execute(text("UPDATE kit_outbox SET published_at = now() WHERE id = ANY(:ids)"), {"ids": ids})
            OUTBOX_PUBLISHED.labels(self.service).inc(len(ids))

    def _publish(self, producer: kombu.Producer, row) -> None:
        exchange = kombu.Exchange(row.exchange, type="topic", durable=True)
        headers = {}
        if row.correlation_id:
            headers["nameko.correlation_id"] = row.correlation_id
        producer.publish(
            row.body,
            exchange=exchange,
            routing_key=row.event_type,
            declare=[exchange],
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
            headers=headers,
            message_id=row.event_id,
            retry=False,
            timeout=10,
        )

    def _producer(self) -> kombu.Producer:
        if self._connection is None:
            self._connection = kombu.Connection(
                self.broker_url, transport_options={"confirm_publish": True}, connect_timeout=5
            )
            self._connection.ensure_connection(max_retries=1, timeout=5)
        return self._connection.Producer()

    def _close_connection(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:
                log.debug("error closing relay connection", exc_info=True)
            self._connection = None

    def _update_gauges(self) -> None:
        now = time.monotonic()
        if now - self._last_gauges < 5:
            return
        self._last_gauges = now
        try:
            with self.engine.begin() as conn:
                count, lag = conn.execute(
                    text(
                        "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "
                        "FROM kit_outbox WHERE published_at IS NULL"
                    )
                ).one()
                purge_expired(conn)
                record_postgres_connections(conn, self.service)  # same connection: none extra for metrics
            OUTBOX_PENDING.labels(self.service).set(count)
            OUTBOX_LAG.labels(self.service).set(float(lag))
        except Exception:
            log.debug("could not refresh outbox gauges", exc_info=True)
