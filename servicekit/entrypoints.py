"""Entrypoint decorators for services: nameko's, plus one rule — the worker's
unit of work is committed when the method returns, before the result (RPC
reply, event ack) is handed back to nameko. On error nothing is committed."""
import functools
from collections.abc import Callable
from typing import Any

from marshmallow import ValidationError
from nameko.rpc import rpc as nameko_rpc
from nameko.timer import Timer
from nameko.timer import timer as nameko_timer
from sqlalchemy.exc import DBAPIError

from contracts.errors import AppError, ErrorCode, invalid
from servicekit.db import UnitOfWork
from servicekit.unavailable import database_unavailable


def load_input(schema, data) -> dict:
    """RPC input from another service that does not fit the contract is a 400, not a crash."""
    try:
        return schema.load(data if data is not None else {})
    except ValidationError as exc:
        raise invalid(exc.messages) from None


def units_of_work(service) -> list[UnitOfWork]:
    """The UnitOfWork instances injected into this worker's service instance."""
    return [value for value in vars(service).values() if isinstance(value, UnitOfWork)]


def committing(fn, read_only: bool = False):
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        units = units_of_work(self)
        try:
            if read_only:
                result = _run_read_only(fn, self, units, args, kwargs)
            else:
                result = fn(self, *args, **kwargs)
            for uow in units:
                if not read_only:  # autocommit: a read-only unit has nothing to commit
                    uow.commit()
                uow.close()  # the connection goes back to the pool before the reply is sent
        except ValidationError as exc:
            # Input refused by a schema: a clear refusal for the caller, not a crash.
            raise AppError(ErrorCode.INVALID_INPUT, "invalid input", exc.messages) from None
        except DBAPIError as exc:
            if database_unavailable(exc):  # PostgreSQL restarting or unreachable: retry later, not a bug
                raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "the database is unavailable; retry later") from None
            raise
        return result

    wrapper.read_only = read_only  # servicekit.observability logs these calls at DEBUG when they succeed
    return wrapper


def _run_read_only(fn, service, units, args, kwargs):
    for uow in units:
        uow.use_read_only()
    try:
        return fn(service, *args, **kwargs)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    # A connection had dropped (read-only connections are not pinged at checkout;
    # SQLAlchemy has discarded it and the pool's older ones): a read is safe to repeat.
    for uow in units:
        uow.close()
    return fn(service, *args, **kwargs)


def rpc(fn=None, *, expected_exceptions=AppError, read_only: bool = False):
    """`@rpc`: a refusal (AppError) is expected and reaches the caller intact.
    `@rpc(read_only=True)`: a query that changes nothing; its unit of work runs
    on the read-only pool (servicekit.db): fewer round trips, writes refused."""
    if fn is None:
        return functools.partial(rpc, expected_exceptions=expected_exceptions, read_only=read_only)
    return nameko_rpc(expected_exceptions=expected_exceptions)(committing(fn, read_only))


def timer(interval: float):
    """A periodic job. Every replica runs it: claim work in the database
    (FOR UPDATE SKIP LOCKED / conditional UPDATE), never in memory."""

    def decorator(fn):
        return nameko_timer(interval=interval)(committing(fn))

    return decorator


class SettingsTimer(Timer):
    """A timer whose interval is a setting, read when the container starts."""

    def __init__(self, settings_class, interval_of, **kwargs):
        self.settings_class = settings_class
        self.interval_of = interval_of
        super().__init__(interval=None, **kwargs)

    def setup(self):
        self.interval = self.interval_of(self.settings_class.from_env())


def settings_timer(settings_class, interval_of: Callable[[Any], float]):
    """`@settings_timer(MySettings, lambda s: s.poll_seconds)`: `timer`, its
    interval a setting (servicekit.config.Settings) read when the service starts."""

    def decorator(fn):
        return SettingsTimer.decorator(settings_class=settings_class, interval_of=interval_of)(committing(fn))

    return decorator
