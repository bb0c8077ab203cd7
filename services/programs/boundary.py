"""What programs refuses at its RPC boundary beyond the contracts' schemas:
text that PostgreSQL cannot store. A NUL character or a lone surrogate in
any argument (ids, slugs, search text, names, nested in dicts and lists) is a
400 INVALID_INPUT for the caller, never a driver error (a 500). The gateway
refuses such text too; this holds for callers that reach the service by RPC."""
import functools
import inspect
import re

from contracts.errors import invalid
from servicekit.entrypoints import rpc as kit_rpc

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REFUSAL = "INVALID_CHARACTER: contains a NUL character or a lone surrogate"


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


def refuse_unstorable_text(fn):
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            arguments = signature.bind(self, *args, **kwargs).arguments
        except TypeError:
            arguments = {}  # a wrong call: the method itself says so
        refused = sorted(name for name, value in arguments.items() if name != "self" and not is_storable(value))
        if refused:
            raise invalid({name: [REFUSAL] for name in refused}, "text must not contain NUL or lone surrogates")
        return fn(self, *args, **kwargs)

    return wrapper


def rpc(fn=None, **options):
    """servicekit's `@rpc`, refusing unstorable text in any argument first."""
    if fn is None:
        return functools.partial(rpc, **options)
    return kit_rpc(refuse_unstorable_text(fn), **options)
