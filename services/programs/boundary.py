"""How programs decodes its RPC arguments beyond the contracts' schemas.

* Text PostgreSQL cannot store: a NUL character or a lone surrogate in any
  argument (ids, slugs, search text, names, nested in dicts and lists) is a
  400 INVALID_INPUT for the caller, never a driver error (a 500). The gateway
  refuses such text too; this holds for callers that reach the service by RPC.
* Ids: the arguments named in UUID_ARGUMENTS are parsed (servicekit.models'
  `require_uuid`) into their canonical form; one that is not a UUID names
  nothing: NOT_FOUND, as for any unknown id."""
import functools
import inspect
import re

from contracts.errors import invalid
from servicekit.entrypoints import rpc as kit_rpc
from servicekit.models import require_uuid

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REFUSAL = "INVALID_CHARACTER: contains a NUL character or a lone surrogate"
# RPC parameter -> what it names (user and invitation ids are other services' text ids)
UUID_ARGUMENTS = {"org_id": "organization", "program_id": "program", "contract_id": "contract",
                  "collection_id": "collection", "item_id": "item"}


def is_storable(value) -> bool:
    """False when a string anywhere in `value` has a NUL or a lone surrogate."""
    if isinstance(value, str):
        return UNSTORABLE.search(value) is None
    if isinstance(value, dict):
        return all(is_storable(k) and is_storable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(is_storable(v) for v in value)
    return True


def storable(text: str | None) -> str | None:
    """`text` with NUL characters and lone surrogates replaced by U+FFFD: for
    names arriving in other services' events, which are kept, not refused."""
    return UNSTORABLE.sub("\ufffd", text) if text else text


def decoding_arguments(fn):
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            return fn(self, *args, **kwargs)  # a wrong call: the method itself says so
        refused = sorted(name for name, value in bound.arguments.items() if name != "self" and not is_storable(value))
        if refused:
            raise invalid({name: [REFUSAL] for name in refused}, "text must not contain NUL or lone surrogates")
        for name, what in UUID_ARGUMENTS.items():
            if bound.arguments.get(name) is not None:
                bound.arguments[name] = require_uuid(bound.arguments[name], what)
        return fn(*bound.args, **bound.kwargs)

    return wrapper


def rpc(fn=None, **options):
    """servicekit's `@rpc`, decoding the arguments first (see the module docstring)."""
    if fn is None:
        return functools.partial(rpc, **options)
    return kit_rpc(decoding_arguments(fn), **options)
