"""Entrypoint decorators for services: nameko's, plus one rule — the worker's
unit of work is committed when the method returns, before the result (RPC
reply, event ack) is handed back to nameko. On error nothing is committed."""
import functools

from marshmallow import ValidationError
from nameko.rpc import rpc as nameko_rpc
from nameko.timer import timer as nameko_timer

from contracts.errors import AppError, ErrorCode
from servicekit.db import UnitOfWork


def units_of_work(service) -> list[UnitOfWork]:
    """The UnitOfWork instances injected into this worker's service instance."""
    return [value for value in vars(service).values() if isinstance(value, UnitOfWork)]


def committing(fn):
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            result = fn(self, *args, **kwargs)
        except ValidationError as exc:
            # Input refused by a schema: a clear refusal for the caller, not a crash.
            raise AppError(ErrorCode.INVALID_INPUT, "invalid input", exc.messages) from None
        for uow in units_of_work(self):
            uow.commit()
        return result

    return wrapper


def rpc(fn=None, *, expected_exceptions=AppError):
    """`@rpc`: a refusal (AppError) is expected and reaches the caller intact."""
    if fn is None:
        return functools.partial(rpc, expected_exceptions=expected_exceptions)
    return nameko_rpc(expected_exceptions=expected_exceptions)(committing(fn))


def timer(interval: float):
    """A periodic job. Every replica runs it: claim work in the database
    (FOR UPDATE SKIP LOCKED / conditional UPDATE), never in memory."""

    def decorator(fn):
        return nameko_timer(interval=interval)(committing(fn))

    return decorator
