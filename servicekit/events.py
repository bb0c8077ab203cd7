"""Idempotent, retried, parkable event handlers.

`@handle_event(MEMBER_JOINED)` (an Event constant of `contracts`; the
publishing service is the first part of its type) is nameko's
`@event_handler` (same exchange, same queue naming, service-pool delivery) with
three differences:

* the method receives a loaded `Envelope`, and the event id is recorded with
  the handler's effects in one transaction, so a redelivery is skipped;
* a failing handler is retried (the message goes back to the queue after a
  growing pause) up to `max_attempts` times, then parked in
  `kit_failed_events` with its error and acked — never dropped, never looping;
* parked events are listed and replayed by an operator (`python -m
  servicekit.ops`), which republishes them to the handler's own queue.
"""
import functools
import json
import logging
import re
import time

import kombu
from nameko.events import EventHandler
from prometheus_client import Counter
from sqlalchemy import text

from contracts.envelope import Envelope
from contracts.errors import AppError, ErrorCode
from contracts.registry import Event
from servicekit.context import set_caller
from servicekit.db import Database
from servicekit.entrypoints import units_of_work

log = logging.getLogger(__name__)

EVENTS_HANDLED = Counter("learnadmin_events_handled_total", "Events applied", ["service", "handler"])
EVENTS_SKIPPED = Counter("learnadmin_events_duplicate_total", "Redelivered events skipped", ["service", "handler"])
EVENT_RETRIES = Counter("learnadmin_event_handler_retries_total", "Failed attempts sent back for retry",
                        ["service", "handler"])
EVENTS_PARKED = Counter("learnadmin_events_parked_total", "Events parked after failing", ["service", "handler"])

DEFAULT_MAX_ATTEMPTS = 5
BASE_DELAY_SECONDS = 0.2


def handler_name(service_name: str, method_name: str) -> str:
    return f"{service_name}.{method_name}"


UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value):
    """`value` (JSON values) with the characters PostgreSQL's text and jsonb refuse (NUL, lone surrogates) replaced
    by U+FFFD: a malformed event is parked as received, near enough, instead of failing to be recorded (which
    would requeue it for ever)."""
    if isinstance(value, str):
        return UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {storable(str(k)): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


class RetryingEventHandler(EventHandler):
    def __init__(self, source_service, event_type, max_attempts=DEFAULT_MAX_ATTEMPTS,
                 base_delay=BASE_DELAY_SECONDS, **kwargs):
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        super().__init__(source_service, event_type, requeue_on_error=False, **kwargs)

    def setup(self):
        super().setup()
        for metric in (EVENTS_HANDLED, EVENTS_SKIPPED, EVENT_RETRIES, EVENTS_PARKED):
            metric.labels(self.container.service_name, self.handler)  # at 0 from start: rate() sees the first

    @property
    def handler(self) -> str:
        return handler_name(self.container.service_name, self.method_name)

    def _engine(self):
        for dependency in self.container.dependencies:
            if isinstance(dependency, Database):
                return dependency.engine
        raise RuntimeError(f"{self.container.service_name} needs a Database to handle events")

    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        if exc_info is None:
            self.queue_consumer.ack_message(message)
            return result, exc_info
        for uow in units_of_work(worker_ctx.service):
            uow.rollback()  # release locks before pausing
        error = exc_info[1]
        permanent = isinstance(error, AppError) and error.code == ErrorCode.INVALID_EVENT
        try:
            attempts = self._record_failure(message, error)
        except Exception:
            # Cannot even record the failure (database down): keep the message.
            log.exception("could not record failure of %s; requeueing", self.handler)
            time.sleep(self.base_delay * 5)
            self.queue_consumer.requeue_message(message)
            return result, exc_info
        if permanent or attempts >= self.max_attempts:
            self._park(message)
            EVENTS_PARKED.labels(self.container.service_name, self.handler).inc()
            log.error("event parked after %d attempt(s) in %s: %s", attempts, self.handler, error)
            self.queue_consumer.ack_message(message)
        else:
            EVENT_RETRIES.labels(self.container.service_name, self.handler).inc()
            time.sleep(self.base_delay * 2 ** (attempts - 1))
            self.queue_consumer.requeue_message(message)
        return result, exc_info

    def _event_id(self, message) -> str:
        body = message.payload
        if isinstance(body, dict) and isinstance(body.get("id"), str):
            return body["id"]
        return message.properties.get("message_id") or f"unparseable-{hash(message.body)}"

    def _record_failure(self, message, error) -> int:
        envelope = storable(message.payload if isinstance(message.payload, dict) else {"raw": str(message.payload)})
        with self._engine().begin() as conn:
            return conn.execute(
                text(
                    "INSERT INTO kit_failed_events (event_id, handler, queue, envelope, attempts, last_error) "
                    "VALUES (:id, :handler, :queue, CAST(:envelope AS jsonb), 1, :error) "
                    "ON CONFLICT (event_id, handler) DO UPDATE SET attempts = kit_failed_events.attempts + 1, "
                    "last_error = EXCLUDED.last_error, last_failed_at = now(), status = 'RETRYING' "
                    "RETURNING attempts"
                ),
                {
                    "id": storable(self._event_id(message)),
                    "handler": self.handler,
                    "queue": self.queue.name,
                    "envelope": json.dumps(envelope, default=str),
                    "error": storable(f"{error.__class__.__name__}: {error}"[:2000]),
                },
            ).scalar_one()

    def _park(self, message) -> None:
        with self._engine().begin() as conn:
            conn.execute(
                text(
                    "UPDATE kit_failed_events SET status = 'PARKED', parked_at = now() "
                    "WHERE event_id = :id AND handler = :handler"
                ),
                {"id": storable(self._event_id(message)), "handler": self.handler},
            )


def handle_event(event: Event, max_attempts: int = DEFAULT_MAX_ATTEMPTS, **kwargs):
    """Decorate `def on_x(self, event: Envelope)` on a service with a Database.
    `event` is a `contracts` Event constant: its type is the routing key, its
    source (the type's first part) the publishing service."""
    if not isinstance(event, Event):
        raise TypeError(f"handle_event takes a contracts Event constant, not {event!r}")
    source_service, event_type = event.source, event.type

    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(self, body):
            envelope = Envelope.load(body)
            # The events that follow from this one name its actor (servicekit.context).
            actor = envelope.actor or {}
            set_caller(actor.get("kind"), actor.get("id"), envelope.client_address)
            name = handler_name(self.name, fn.__name__)
            (uow,) = units_of_work(self)
            if not uow.claim_event(envelope.id, name):
                EVENTS_SKIPPED.labels(self.name, name).inc()
                log.info("skipping redelivered event %s in %s", envelope.id, name)
                return None
            result = fn(self, envelope)
            uow.session.execute(
                text("DELETE FROM kit_failed_events WHERE event_id = :id AND handler = :handler"),
                {"id": envelope.id, "handler": name},
            )
            uow.commit()
            EVENTS_HANDLED.labels(self.name, name).inc()
            return result

        wrapper.event_type = event_type  # tests/contracts checks every handler's type is registered
        return RetryingEventHandler.decorator(source_service, event_type, max_attempts=max_attempts, **kwargs)(
            wrapper
        )

    return decorator


class handled_by:  # noqa: N801 - used like a decorator, on the class body
    """`on_member_joined = handled_by(MEMBER_JOINED, handlers.on_member_joined)`
    on a service: a `@handle_event` entrypoint whose whole body is
    `handler(uow, event)` (with `payload=True`, `handler(uow, event.payload)`).
    The entrypoint's name is the attribute's, so the handler name recorded in
    kit_processed_events and kit_failed_events is that of the method it replaces."""

    def __init__(self, event: Event, handler, *, payload: bool = False, **kwargs):
        self.event, self.handler, self.payload, self.kwargs = event, handler, payload, kwargs

    def __set_name__(self, owner, name):
        handler, payload = self.handler, self.payload

        def entrypoint(service, event: Envelope):
            (uow,) = units_of_work(service)
            return handler(uow, event.payload if payload else event)

        entrypoint.__name__ = name
        entrypoint.__qualname__ = f"{owner.__qualname__}.{name}"
        setattr(owner, name, handle_event(self.event, **self.kwargs)(entrypoint))


# --- operator actions on parked events (used by `python -m servicekit.ops`) ---


def list_failed(engine, status: str | None = "PARKED") -> list[dict]:
    query = (
        "SELECT id, event_id, handler, queue, attempts, status, last_error, first_failed_at, "
        "last_failed_at, parked_at, envelope->>'type' AS event_type FROM kit_failed_events"
    )
    params = {}
    if status:
        query += " WHERE status = :status"
        params["status"] = status
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(text(query + " ORDER BY id"), params)]


def replay_parked(engine, broker_url: str, failed_id: int | None = None) -> int:
    """Republish parked events to their handler's queue (all, or one by id).
    Returns how many were replayed. The handler is idempotent, so a replay of
    an event that did get applied meanwhile is harmless."""
    where = "status = 'PARKED'" + (" AND id = :id" if failed_id is not None else "")
    with engine.begin() as conn, kombu.Connection(broker_url, transport_options={"confirm_publish": True}) as bus:
        rows = conn.execute(
            text(f"SELECT id, queue, envelope FROM kit_failed_events WHERE {where} FOR UPDATE SKIP LOCKED"),
            {"id": failed_id},
        ).all()
        producer = bus.Producer()
        for row in rows:
            producer.publish(row.envelope, exchange="", routing_key=row.queue, serializer="json",
                             delivery_mode=2, retry=True)
            conn.execute(
                text("UPDATE kit_failed_events SET status = 'REPLAYED', attempts = 0 WHERE id = :id"),
                {"id": row.id},
            )
    return len(rows)
