"""Riding out broker faults: nameko 2.14 made to survive a RabbitMQ restart or
a dropped connection at any moment. `install()` is applied once per process by
`servicekit.run` (every service and the gateway), before the container starts.

What nameko does on its own, and what changes here:

* **Publishing** (RPC requests and replies, `EventDispatcher`, `Publisher`):
  every nameko publisher is `nameko.amqp.publish.Publisher`, which retries a
  connection error 3 times and then raises. Raised from the RPC responder
  (`RpcConsumer.handle_result`, publishing a reply) the error escapes the
  worker thread and nameko kills the whole container: the process exits.
  Here `Publisher.publish` retries for up to `BROKER_PUBLISH_RETRY_SECONDS`
  (pauses 0.5 s growing to 5 s; each attempt waits at most
  `PUBLISH_CONFIRM_SECONDS` for the broker's confirm, so a silent network
  cannot hang it), then raises `AppError(SERVICE_UNAVAILABLE)`: the one call
  fails, the caller gets a refusal it understands.
* **RPC replies**: a reply that cannot be sent is logged and dropped; the
  worker ends normally and the process keeps serving. The caller gets no
  answer (the gateway answers 503 at its deadline; a service calling another
  one gets its reply from the re-run: the broker redelivers the request,
  which was never acknowledged on the dropped connection).
* **Acks and requeues** on a connection that died are skipped (the broker
  redelivers the message) instead of raising into the worker.
* **Consumers** (RPC, events, replies) reconnect on their own (kombu's
  ConsumerMixin); here the pause between attempts grows from 0.5 s to at most
  `RECONNECT_MAX_SECONDS` (kombu's default grows to 30 s), so they are back
  within seconds of the broker. AMQP heartbeats (`AMQP_HEARTBEAT`, nameko's
  default 60 s) detect a connection that went silent.
* **RPC calls between services** wait at most `RPC_LONG_TIMEOUT` for their
  reply (nameko waits forever), so a lost reply cannot hang a worker, a timer
  or an import.

The outbox relay (servicekit.outbox) has its own retry loop and never raises.
"""
import logging
import time
from contextlib import contextmanager

import amqp
import eventlet
from kombu.exceptions import OperationalError
from nameko import messaging, rpc
from nameko.amqp import publish

from contracts.errors import AppError, ErrorCode
from servicekit import config

log = logging.getLogger(__name__)

# Errors that mean "the broker connection is gone or unusable", as opposed to
# a refusal by the broker (no route, access refused) which retrying cannot fix.
CONNECTION_ERRORS = (OperationalError, *amqp.Connection.connection_errors)

PUBLISH_RETRY_SECONDS = float(config.env("BROKER_PUBLISH_RETRY_SECONDS", "20"))
PUBLISH_CONFIRM_SECONDS = 10.0
RECONNECT_MAX_SECONDS = 5.0
HEARTBEAT_SECONDS = float(config.env("AMQP_HEARTBEAT", "60"))
CALL_TIMEOUT_SECONDS = float(config.env("RPC_LONG_TIMEOUT", "120"))

_originals: list = []
_publish_retry_seconds = PUBLISH_RETRY_SECONDS


def nameko_config(base: dict) -> dict:
    """The broker settings of a nameko config (heartbeat)."""
    return {**base, "HEARTBEAT": HEARTBEAT_SECONDS}


def _patches() -> list[tuple[type, str, object]]:
    """(class, attribute, replacement factory) of every patch."""
    return [
        (publish.Publisher, "publish", _bounded),
        (rpc.RpcConsumer, "handle_result", _reply_or_log),
        (messaging.QueueConsumer, "ack_message", _unless_disconnected),
        (messaging.QueueConsumer, "requeue_message", _unless_disconnected),
        (messaging.QueueConsumer, "establish_connection", lambda original: _establish_connection),
        (rpc.RpcReply, "result", _result_with_deadline),
    ]


def install(publish_retry_seconds: float | None = None) -> None:
    """Patch nameko's publisher, RPC responder, queue consumer and RPC reply
    (see the module docstring). Idempotent. `publish_retry_seconds` overrides
    `BROKER_PUBLISH_RETRY_SECONDS` for this process (the gateway answers 503
    fast rather than hold a request)."""
    global _publish_retry_seconds
    if publish_retry_seconds is not None:
        _publish_retry_seconds = publish_retry_seconds
    if _originals:
        return
    for cls, name, replacement in _patches():
        _originals.append((cls, name, cls.__dict__.get(name)))  # None: inherited
        setattr(cls, name, replacement(getattr(cls, name)))


def uninstall() -> None:
    """Back to plain nameko (tests that install it in a shared test process)."""
    global _publish_retry_seconds
    while _originals:
        cls, name, original = _originals.pop()
        if original is None:
            delattr(cls, name)
        else:
            setattr(cls, name, original)
    _publish_retry_seconds = PUBLISH_RETRY_SECONDS


def _bounded(original_publish):
    def publish_with_retries(self, payload, **kwargs):
        kwargs.setdefault("confirm_timeout", PUBLISH_CONFIRM_SECONDS)
        # kombu revives a stale pooled connection once; the pauses are ours.
        kwargs.setdefault("retry_policy", {"max_retries": 1, "interval_start": 0, "interval_step": 0.5,
                                           "interval_max": 0.5})
        deadline = time.monotonic() + _publish_retry_seconds
        pause = 0.5
        while True:
            try:
                return original_publish(self, payload, **kwargs)
            except CONNECTION_ERRORS as exc:
                if time.monotonic() + pause > deadline:
                    log.warning("broker unreachable, message not published: %s", exc)
                    raise AppError(ErrorCode.SERVICE_UNAVAILABLE,
                                   "the message broker is unreachable; retry later") from None
                log.info("broker unreachable, publishing again in %.1fs: %s", pause, exc)
                eventlet.sleep(pause)
                pause = min(pause * 2, RECONNECT_MAX_SECONDS)

    return publish_with_retries


def _reply_or_log(original_handle_result):
    def handle_result(self, message, result, exc_info):
        try:
            return original_handle_result(self, message, result, exc_info)
        except Exception as exc:
            routing_key = message.delivery_info.get("routing_key")
            log.error("RPC reply to %s not sent (%s: %s); the caller gets no answer",
                      routing_key, exc.__class__.__name__, exc)
            self.queue_consumer.ack_message(message)
            return result, exc_info

    return handle_result


def _unless_disconnected(original):
    def settle(self, message):
        try:
            original(self, message)
        except CONNECTION_ERRORS as exc:
            # The broker puts an unacknowledged message back when the
            # connection ends: nothing to do here.
            log.info("message not settled, its connection is gone (%s); the broker redelivers it", exc)

    return settle


@contextmanager
def _establish_connection(self):
    """kombu's ConsumerMixin.establish_connection with shorter pauses, and one
    that gives up when the consumer is stopped (kombu's retries forever: a
    service told to stop while the broker is away would never stop)."""

    def unless_stopping():
        if self.should_stop:
            raise amqp.exceptions.RecoverableConnectionError("stopping: no more reconnecting")

    with self.create_connection() as conn:
        try:
            conn.ensure_connection(self.on_connection_error, self.connect_max_retries,
                                   interval_start=0.5, interval_step=1, interval_max=RECONNECT_MAX_SECONDS,
                                   callback=unless_stopping)
        except OperationalError:
            if not self.should_stop:
                raise
            # kombu wraps the error as its own; ConsumerMixin.run ends quietly
            # only on a transport error, seeing should_stop.
            raise amqp.exceptions.RecoverableConnectionError("stopping: no more reconnecting") from None
        yield conn


def _result_with_deadline(original_result):
    def result(self):
        if self.resp_body is None:
            deadline = eventlet.Timeout(CALL_TIMEOUT_SECONDS)
            try:
                return original_result(self)
            except eventlet.Timeout as exc:
                if exc is not deadline:
                    raise  # the caller's own, shorter deadline (the gateway's)
                raise AppError(ErrorCode.SERVICE_UNAVAILABLE,
                               f"no answer in {CALL_TIMEOUT_SECONDS:.0f}s; retry later") from None
            finally:
                deadline.cancel()
        return original_result(self)

    return result
