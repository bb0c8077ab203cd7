"""The correlation id of the work in progress.

It starts as the gateway's request id and travels in nameko's context data
(RPC headers and event headers), so every log line and every event of one
request carries the same id. Stored green-thread-locally: eventlet patches
`threading.local` so each worker sees its own."""
import threading
import uuid

_local = threading.local()
CORRELATION_KEY = "correlation_id"


def correlation_id() -> str | None:
    return getattr(_local, "correlation_id", None)


def set_correlation_id(value: str | None) -> None:
    _local.correlation_id = value


def ensure_correlation_id(context_data: dict) -> str:
    """Adopt the id from nameko context data, or start one; write it back so
    outgoing RPC calls and events propagate it."""
    cid = context_data.get(CORRELATION_KEY) or str(uuid.uuid4())
    context_data[CORRELATION_KEY] = cid
    set_correlation_id(cid)
    return cid
