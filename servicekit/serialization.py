"""kombu's JSON decoder without its per-object hook when no object can need it.

kombu (and so nameko's RPC and events) decodes every message with
`json.loads(s, object_hook=...)`: a Python call for every JSON object, to turn
`{"__type__": ..., "__value__": ...}` (kombu's encoding of datetimes, UUIDs,
decimals, bytes) back into values. A batch of 1,000 statements is 4,000 such
calls, most of the cost of decoding it (measured with py-spy in reporting
during the ingestion benchmark: 13 % of the process's CPU in object_hook).

`loads` is kombu's when the text could hold such an object — it contains
`__type__`, or a `\\u` escape of one of its letters (a key may be spelled with
escapes) — and plain `json.loads` otherwise: the same values either way.
`install()` registers it for the `application/json` content type (every
process that imports servicekit.rpc: the services and the gateway)."""
import json

from kombu import serialization
from kombu.utils import json as kombu_json

# `\u005f` (_), `\u0074` (t), `\u0079` (y), `\u0070` (p), `\u0065` (e), in either case
_ESCAPES = ("\\u005", "\\u007", "\\u0065")


def loads(s):
    if isinstance(s, memoryview):
        s = s.tobytes().decode("utf-8")
    elif isinstance(s, bytes | bytearray):
        s = s.decode("utf-8")
    if "__type__" in s or any(escape in s for escape in _ESCAPES):
        return kombu_json.loads(s)
    return json.loads(s)


def install() -> None:
    serialization.register("json", kombu_json.dumps, loads, content_type="application/json",
                           content_encoding="utf-8")
