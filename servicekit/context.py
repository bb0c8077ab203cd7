"""The context of the work in progress: its correlation id and its caller.

The correlation id starts as the gateway's request id; the caller (who acts:
a person or an API token, and from which client address) is set by the
gateway once it has authenticated the request. Both travel in nameko's
context data (RPC headers `nameko.<key>`), so every log line and every event
of one request carries the same id, and every event a service publishes for
it names who did it (the envelope's `actor` and `client_address`,
contracts/envelope.py). An event handler adopts the caller of the event it
handles (servicekit.events), so the events that follow from an admin's action
name that admin too. Stored green-thread-locally: eventlet patches
`threading.local` so each worker sees its own."""
import threading
import uuid

_local = threading.local()
CORRELATION_KEY = "correlation_id"
ACTOR_KIND_KEY = "actor_kind"
ACTOR_ID_KEY = "actor_id"
CLIENT_ADDRESS_KEY = "client_address"
CALLER_KEYS = (ACTOR_KIND_KEY, ACTOR_ID_KEY, CLIENT_ADDRESS_KEY)


class ActorKind:
    """Who acts: a signed-in person or an API token (machine client); SSO and
    SCIM act as these too (a person signing in, a token of scope scim)."""
    PERSON = "person"
    API_TOKEN = "api_token"


ACTOR_KINDS = (ActorKind.PERSON, ActorKind.API_TOKEN)


def correlation_id() -> str | None:
    return getattr(_local, "correlation_id", None)


def set_correlation_id(value: str | None) -> None:
    _local.correlation_id = value


def ensure_correlation_id(context_data: dict) -> str:
    """Adopt the id from nameko context data, or start one; write it back so
    outgoing RPC calls and events propagate it. Adopts the caller too."""
    cid = context_data.get(CORRELATION_KEY) or str(uuid.uuid4())
    context_data[CORRELATION_KEY] = cid
    set_correlation_id(cid)
    adopt_caller(context_data)
    return cid


def actor() -> dict | None:
    """`{"kind": "person" | "api_token", "id": ...}` of the current work, or None (the
    system itself: a timer, a command, an unauthenticated request)."""
    kind, actor_id = getattr(_local, "actor_kind", None), getattr(_local, "actor_id", None)
    if kind not in ACTOR_KINDS or not actor_id:
        return None
    return {"kind": kind, "id": str(actor_id)}


def client_address() -> str | None:
    return getattr(_local, "client_address", None)


def adopt_caller(context_data: dict) -> None:
    """The caller named in nameko context data (a service's worker: from the
    RPC or event headers), or none."""
    _local.context_data = context_data
    _local.actor_kind = context_data.get(ACTOR_KIND_KEY)
    _local.actor_id = context_data.get(ACTOR_ID_KEY)
    _local.client_address = context_data.get(CLIENT_ADDRESS_KEY)


def set_caller(actor_kind: str | None = None, actor_id: str | None = None, client: str | None = None) -> None:
    """Name the caller of the current work (the gateway once it knows who
    calls; an event handler from the event's envelope). Written into the
    worker's context data too, so the RPC calls it makes carry it."""
    _local.actor_kind, _local.actor_id, _local.client_address = actor_kind, actor_id, client
    data = getattr(_local, "context_data", None)
    if data is not None:
        for key, value in zip(CALLER_KEYS, (actor_kind, actor_id, client), strict=True):
            if value is None:
                data.pop(key, None)  # nameko warns about None header values
            else:
                data[key] = str(value)


def clear() -> None:
    """Forget the correlation id and the caller (a worker's end)."""
    set_correlation_id(None)
    _local.context_data = None
    _local.actor_kind = _local.actor_id = _local.client_address = None
