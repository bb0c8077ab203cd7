"""What a service call answered, as one comparable value: `ok` when it
succeeded (or `ok(result)` when `ok` is a function), the refusal's code for an
AppError, and "unexpected <type>" for a crash in the service (a RemoteError,
a 500 at the gateway). Tests of races and limits count these."""
from nameko.exceptions import RemoteError

from contracts.errors import AppError


def answer(call, *args, ok="OK", **kwargs):
    try:
        result = call(*args, **kwargs)
    except AppError as exc:
        return exc.code
    except RemoteError as exc:
        return f"unexpected {exc.exc_type}"
    return ok(result) if callable(ok) else ok


def answers(async_calls, ok="OK") -> list:
    """`answer` of each `call_async` reply, in order."""
    return [answer(call.result, ok=ok) for call in async_calls]
