"""Per-service PostgreSQL access: a nameko DependencyProvider that gives each
worker one unit of work (one SQLAlchemy session, one transaction).

The entrypoint decorators in `servicekit.entrypoints` commit it when the
entrypoint returns, *before* the RPC reply or event ack leaves, so a caller never
sees a success whose data is not committed. Anything left open is rolled back
when the worker ends.

Read-only RPCs (`@rpc(read_only=True)`) run on a second, read-only pool:
autocommit, so one round trip per query (no BEGIN/COMMIT, no pre-ping), on
connections the server keeps read-only, so a write fails instead of committing."""
import logging

import eventlet
from nameko.extensions import DependencyProvider
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, Result
from sqlalchemy.orm import Session, sessionmaker

from contracts.registry import Event
from servicekit import config
from servicekit.observability import MeteredQueuePool
from servicekit.outbox import OutboxRelay, record_event, record_events

log = logging.getLogger(__name__)


def make_engine(service: str, pool_size: int | None = None) -> Engine:
    # Workers beyond the pool wait for a connection (pool_timeout) rather than
    # exhausting the server's max_connections when replicas multiply.
    size = pool_size or config.db_pool_size()
    idle = min(size, config.db_pool_idle())
    return create_engine(
        config.database_url(service),
        poolclass=MeteredQueuePool,  # counts checkouts waiting for a connection (metrics)
        pool_size=idle,
        max_overflow=size - idle + config.db_pool_size(),
        pool_pre_ping=True,
        pool_recycle=1800,
        hide_parameters=True,  # an error's text reaches logs and RPC callers: never the bound values (hashes)
    )


def make_read_only_engine(service: str) -> Engine:
    # No pre-ping per checkout: a read that meets a dropped connection is run
    # again (servicekit.entrypoints). Readers hold a connection for their
    # queries only, and this pool adds DB_POOL_SIZE at most.
    return create_engine(
        config.database_url(service),
        poolclass=MeteredQueuePool,
        isolation_level="AUTOCOMMIT",
        connect_args={"options": "-c default_transaction_read_only=on"},
        pool_reset_on_return=None,  # autocommit: no transaction to roll back
        pool_size=config.db_pool_idle(),
        max_overflow=config.db_pool_size() - config.db_pool_idle(),
        pool_recycle=1800,
        hide_parameters=True,
    )


def _check_event(event) -> None:
    if not isinstance(event, Event):
        raise TypeError(f"publish takes a contracts Event constant, not {event!r}")


class UnitOfWork:
    """One transaction: the session for state changes and `publish` for the
    events announcing them (written to the outbox in the same transaction)."""

    def __init__(self, session_factory: sessionmaker, source: str, on_commit=None, read_only_factory=None,
                 read_only_connect=None):
        self._factory = session_factory
        self._read_only_factory = read_only_factory
        self._read_only_connect = read_only_connect
        self.read_only = False
        self._session: Session | None = None
        self._connection: Connection | None = None
        self.source = source
        self._on_commit = on_commit
        self._published = 0

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = self._factory()
        return self._session

    def use_read_only(self) -> None:
        """Run this unit's queries on the read-only pool (see the module docstring)."""
        if self._read_only_factory is None or self._session is not None:
            raise RuntimeError("read-only needs a read-only pool and must be chosen before the first query")
        self._factory = self._read_only_factory
        self.read_only = True

    def read(self, statement, params: dict | None = None) -> Result:
        """Run a query that only reads. In a read-only unit it runs on a plain
        pooled connection, without an ORM session (a few hundred µs less per
        call, for the hottest read-only RPCs); otherwise in this unit's transaction."""
        if not self.read_only or self._read_only_connect is None:
            return self.session.execute(statement, params)
        if self._connection is None:
            self._connection = self._read_only_connect()
        return self._connection.execute(statement, params)

    def publish(self, event: Event, payload: dict, org_id: str | None = None) -> str:
        """Record an event (a `contracts` Event constant) for the outbox; it is
        sent only if this unit commits."""
        _check_event(event)
        self._published += 1
        return record_event(self.session, self.source, event, payload, org_id)

    def publish_many(self, event: Event, items: list[tuple[dict, str | None]]) -> None:
        """Record many events of one type, given as (payload, org_id), at once."""
        _check_event(event)
        if items:
            self._published += len(items)
            record_events(self.session, self.source, event, items)

    def independent_session(self) -> Session:
        """A session with its own transaction, for what must be kept even if
        this unit rolls back (e.g. counting a refused login)."""
        return self._factory()

    def publish_independently(self, session: Session, event: Event, payload: dict, org_id: str | None = None) -> str:
        """`publish` into an `independent_session()`: the event is kept when that
        session commits, whatever this unit does (a refused login's sign_in.failed)."""
        _check_event(event)
        return record_event(session, self.source, event, payload, org_id)

    def claim_event(self, event_id: str, handler: str) -> bool:
        """Mark an incoming event as processed by `handler` in this transaction.
        False when it was processed already (a redelivery): skip it."""
        row = self.session.execute(
            text(
                "INSERT INTO kit_processed_events (event_id, handler) VALUES (:id, :handler) "
                "ON CONFLICT DO NOTHING RETURNING event_id"
            ),
            {"id": event_id, "handler": handler},
        ).first()
        return row is not None

    def commit(self) -> None:
        if self._session is None:
            return
        self._session.commit()
        if self._published and self._on_commit:
            self._on_commit()
        self._published = 0

    def rollback(self) -> None:
        if self._session is not None:
            self._session.rollback()
        self._published = 0

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class Database(DependencyProvider):
    """`db = Database()` on a service gives each worker a UnitOfWork on the
    service's own database and runs the outbox relay for it."""

    def setup(self):
        self.service = self.container.service_name
        self.engine = make_engine(self.service)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        self.relay = OutboxRelay(self.engine, self.service, self.container.config["AMQP_URI"])
        self.units: dict = {}
        self.read_only_engine: Engine | None = None  # made on first use: only services with read-only RPCs need it

    def start(self):
        self._relay_thread = self.container.spawn_managed_thread(self.relay.run)

    def stop(self):
        # Let the relay finish its batch and release its connections before
        # the pool is disposed.
        self.relay.stop()
        with eventlet.Timeout(15, False):
            self._relay_thread.wait()
        self.engine.dispose()
        if self.read_only_engine is not None:
            self.read_only_engine.dispose()

    def kill(self):
        self.relay.stop()

    def get_dependency(self, worker_ctx):
        uow = UnitOfWork(self.session_factory, self.service, on_commit=self.relay.wake,
                         read_only_factory=self.read_only_session, read_only_connect=self.read_only_connection)
        self.units[worker_ctx] = uow
        return uow

    def worker_teardown(self, worker_ctx):
        uow = self.units.pop(worker_ctx, None)
        if uow is not None:
            uow.rollback()
            uow.close()

    def read_only_session(self) -> Session:
        self._make_read_only_engine()
        return self._read_only_factory()

    def read_only_connection(self) -> Connection:
        self._make_read_only_engine()
        return self.read_only_engine.connect()

    def _make_read_only_engine(self) -> None:
        if self.read_only_engine is None:
            self.read_only_engine = make_read_only_engine(self.service)
            self._read_only_factory = sessionmaker(self.read_only_engine, expire_on_commit=False)

    def check_ready(self) -> tuple[bool, str]:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True, "ok"
        except Exception as exc:  # readiness reports, never raises
            return False, f"database unreachable: {exc.__class__.__name__}"
