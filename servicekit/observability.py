"""Metrics, health and correlation for every service and the gateway.

`observability = Observability()` on a service:
* times every entrypoint: `learnadmin_entrypoint_requests_total`,
  `learnadmin_entrypoint_errors_total` (label `code`: the error code of a refusal,
  `INTERNAL` for an unexpected exception) and `learnadmin_entrypoint_duration_seconds`;
  every entrypoint's series exist at 0 from start, so `rate()` sees the first call;
* exports saturation: busy workers vs MAX_WORKERS, the database pools (in use,
  idle, overflow, waiting) and the connections of the service's PostgreSQL database;
* logs one line per call (INFO; DEBUG when a timer tick or a read-only RPC
  succeeds; ERROR with the traceback only for a server-side failure);
* adopts or starts the correlation id of each worker (see servicekit.context);
* serves `/metrics`, `/healthz` and `/readyz` on the process's ops port.
  `/readyz` asks every dependency that has `check_ready()` (the database) and
  checks the broker."""
import json
import logging
import time

import eventlet
import eventlet.wsgi
import kombu
from nameko.events import EventHandler
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from nameko.timer import Timer
from nameko.web.handlers import HttpRequestHandler
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from contracts.errors import AppError, ErrorCode
from servicekit import config
from servicekit.context import clear as clear_context
from servicekit.context import ensure_correlation_id

log = logging.getLogger(__name__)

# One prefix for every metric of the suite (prometheus_client's `_created` series off:
# one extra series per child that no rule or panel reads).
PREFIX = "learnadmin_"
disable_created_metrics()

REQUESTS = Counter(f"{PREFIX}entrypoint_requests_total", "Entrypoint calls", ["service", "entrypoint", "kind"])
ERRORS = Counter(
    f"{PREFIX}entrypoint_errors_total",
    "Entrypoint calls that raised, by error code (INTERNAL: an unexpected exception)",
    ["service", "entrypoint", "kind", "code"],
)
LATENCY = Histogram(
    f"{PREFIX}entrypoint_duration_seconds",
    "Entrypoint latency",
    ["service", "entrypoint", "kind"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
WORKERS_BUSY = Gauge(f"{PREFIX}workers_busy", "Nameko workers running now", ["service"])
WORKERS_MAX = Gauge(f"{PREFIX}workers_max", "Nameko workers allowed at once (MAX_WORKERS)", ["service"])
POSTGRES_CONNECTIONS = Gauge(f"{PREFIX}postgres_connections",
                             "Connections to the service's database (all clients), from pg_stat_activity", ["service"])
POSTGRES_MAX_CONNECTIONS = Gauge(f"{PREFIX}postgres_max_connections",
                                 "The PostgreSQL server's max_connections", ["service"])

# Failures that are the server's fault (a defect or an outage), as opposed to refusals.
SERVER_ERROR_CODES = (ErrorCode.INTERNAL.value, ErrorCode.SERVICE_UNAVAILABLE.value)
KNOWN_CODES = frozenset(code.value for code in ErrorCode)


def error_code(error: BaseException) -> str:
    """The `code` label of a failed call: a bounded set (the ErrorCode values)."""
    if isinstance(error, AppError):
        code = str(error.code)
        return code if code in KNOWN_CODES else ErrorCode.INTERNAL.value
    return ErrorCode.INTERNAL.value


def is_server_error(code: str) -> bool:
    return code in SERVER_ERROR_CODES


def entrypoint_kind(entrypoint) -> str:
    for cls, kind in ((Rpc, "rpc"), (EventHandler, "event"), (HttpRequestHandler, "http"), (Timer, "timer")):
        if isinstance(entrypoint, cls):
            return kind
    return "other"


def broker_ready(url: str) -> tuple[bool, str]:
    try:
        with kombu.Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True, "ok"
    except Exception as exc:
        return False, f"broker unreachable: {exc.__class__.__name__}"


def readiness(container) -> tuple[bool, dict]:
    checks = {"broker": broker_ready(container.config["AMQP_URI"])}
    for dependency in container.dependencies:
        check = getattr(dependency, "check_ready", None)
        if check is not None:
            checks[dependency.attr_name] = check()
    ok = all(result for result, _ in checks.values())
    return ok, {name: message for name, (_, message) in checks.items()}


def metrics_payload() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST


# ---------------------------------------------------------------- database pools


class MeteredQueuePool(QueuePool):
    """SQLAlchemy's QueuePool, counting the checkouts that wait because every
    connection (pool and overflow) is in use."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.waiting = 0

    def _do_get(self):
        if self._max_overflow > -1 and self.checkedout() >= self.size() + self._max_overflow:
            self.waiting += 1
            try:
                return super()._do_get()
            finally:
                self.waiting -= 1
        return super()._do_get()

    def recreate(self):
        # engine.dispose() replaces the pool: keep the waiting count's class.
        pool = super().recreate()
        pool.waiting = 0
        return pool


class PoolCollector:
    """`learnadmin_db_pool_*` for every registered pool, read at scrape time.
    A pool is registered before it exists (a lazily made read-only pool) so
    its series are there, at 0, from start."""

    def __init__(self):
        self.pools: dict[tuple[str, str], tuple] = {}  # (service, pool) -> (engine getter, limit)

    def register(self, service: str, name: str, engine_of, limit: int) -> None:
        self.pools[(service, name)] = (engine_of, limit)

    def collect(self):
        families = {
            "connections": GaugeMetricFamily(f"{PREFIX}db_pool_connections",
                                             "Open database connections of the process, by state",
                                             labels=["service", "pool", "state"]),
            "overflow": GaugeMetricFamily(f"{PREFIX}db_pool_overflow",
                                          "Connections open beyond the pool size (burst)", labels=["service", "pool"]),
            "waiting": GaugeMetricFamily(f"{PREFIX}db_pool_waiting",
                                         "Checkouts waiting for a connection (pool exhausted)",
                                         labels=["service", "pool"]),
            "limit": GaugeMetricFamily(f"{PREFIX}db_pool_max_connections",
                                       "Most connections the pool opens (size + overflow)", labels=["service", "pool"]),
        }
        for (service, name), (engine_of, limit) in list(self.pools.items()):
            try:
                engine = engine_of()
            except ReferenceError:  # its container is gone (tests start several in one process)
                engine = None
            pool = getattr(engine, "pool", None)
            in_use = idle = overflow = waiting = 0
            if isinstance(pool, QueuePool):
                in_use, idle = pool.checkedout(), pool.checkedin()
                overflow, waiting = max(pool.overflow(), 0), getattr(pool, "waiting", 0)
            families["connections"].add_metric([service, name, "in_use"], in_use)
            families["connections"].add_metric([service, name, "idle"], idle)
            families["overflow"].add_metric([service, name], overflow)
            families["waiting"].add_metric([service, name], waiting)
            families["limit"].add_metric([service, name], limit)
        yield from families.values()


POOLS = PoolCollector()
REGISTRY.register(POOLS)


def register_database_pools(service: str, database) -> None:
    """The pools of a servicekit Database dependency (`engine`, lazily `read_only_engine`)."""
    size = config.db_pool_size()
    POOLS.register(service, "main", lambda: getattr(database, "engine", None), size * 2)
    POOLS.register(service, "read_only", lambda: getattr(database, "read_only_engine", None), size)


def record_postgres_connections(conn, service: str) -> None:
    """How many connections the service's database has (every replica and client)
    and the server's limit; called by the outbox relay's periodic refresh, on its
    connection (servicekit.outbox), so the metric costs no connection of its own."""
    count, limit = conn.execute(text(
        "SELECT (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()), "
        "current_setting('max_connections')::int")).one()
    POSTGRES_CONNECTIONS.labels(service).set(count)
    POSTGRES_MAX_CONNECTIONS.labels(service).set(limit)


# ---------------------------------------------------------------- the dependency


class Observability(DependencyProvider):
    def __init__(self, serve_ops: bool = True):
        self.serve_ops = serve_ops
        self.started: dict = {}
        self.port: int | None = None
        self._metrics: dict = {}  # entrypoint -> (labels, requests child, latency child, log level if ok)

    def setup(self):
        self.service = self.container.service_name
        # Every series an alert or panel reads exists at 0 before the first call.
        for entrypoint in self.container.entrypoints:
            labels = self._metrics_of(entrypoint)[0]
            for code in SERVER_ERROR_CODES:
                ERRORS.labels(*labels, code)
        WORKERS_MAX.labels(self.service).set(self.container.max_workers)
        WORKERS_BUSY.labels(self.service).set_function(self._busy_workers)
        # servicekit.db's Database (by its readiness check; its engine is made in its own setup).
        self._databases = [d for d in self.container.dependencies if callable(getattr(d, "check_ready", None))]
        for database in self._databases:
            register_database_pools(self.service, database)
            POSTGRES_CONNECTIONS.labels(self.service)
            POSTGRES_MAX_CONNECTIONS.labels(self.service)

    def start(self):
        if self.serve_ops:
            sock = eventlet.listen((config.env("OPS_HOST", "127.0.0.1"), config.ops_port(self.service)))
            self.port = sock.getsockname()[1]
            self._server = self.container.spawn_managed_thread(
                lambda: eventlet.wsgi.server(sock, self._ops_app, log_output=False)
            )
            log.info("ops endpoints on port %s", self.port)

    def stop(self):
        server = getattr(self, "_server", None)
        if server is not None:
            server.kill()

    def _ops_app(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            body, content_type = metrics_payload()
            start_response("200 OK", [("Content-Type", content_type)])
            return [body]
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"status": "ok", "service": self.service}).encode()]
        if path == "/readyz":
            ok, checks = readiness(self.container)
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "application/json")])
            return [json.dumps({"status": "ok" if ok else "unavailable", "checks": checks}).encode()]
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"error": {"code": "NOT_FOUND", "message": "not found", "details": {}}}']

    def _busy_workers(self) -> int:
        # Read at scrape time; must never fail the scrape (nameko holds the container
        # weakly: a stopped one, e.g. in tests, is gone).
        try:
            return len(self.container._worker_threads)
        except ReferenceError:
            return 0

    def get_dependency(self, worker_ctx):
        return None

    def worker_setup(self, worker_ctx):
        ensure_correlation_id(worker_ctx.data)
        self.started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        started = self.started.pop(worker_ctx, None)
        labels, requests, latency, ok_level = self._metrics_of(worker_ctx.entrypoint)
        requests.inc()
        elapsed = time.perf_counter() - started if started is not None else 0.0
        latency.observe(elapsed)
        outcome = "ok"
        level = ok_level
        extra = {"entrypoint": labels[1], "kind": labels[2], "outcome": outcome,
                 "duration_ms": round(elapsed * 1000, 2)}
        traceback = None
        if exc_info is not None:
            error = exc_info[1]
            outcome = extra["outcome"] = error_code(error)
            ERRORS.labels(*labels, outcome).inc()
            # A refusal is the caller's business (INFO, no traceback); a server-side
            # failure is ERROR, with the traceback when it is a defect.
            level = logging.ERROR if is_server_error(outcome) else logging.INFO
            if not isinstance(error, AppError):
                extra["error_class"] = error.__class__.__name__
                traceback = exc_info
        if log.isEnabledFor(level):
            log.log(level, "%s %s %s", labels[2], labels[1], outcome, extra=extra, exc_info=traceback)

    def _metrics_of(self, entrypoint):
        # Looked up once per entrypoint: `.labels()` takes a lock and hashes the labels.
        found = self._metrics.get(entrypoint)
        if found is None:
            labels = (self.service, entrypoint.method_name, entrypoint_kind(entrypoint))
            # One line per call; at DEBUG when it succeeds for timers (they fire every
            # second), read-only RPCs (hot queries; the gateway logs each request) and
            # methods marked `quiet` (health pings).
            method = getattr(self.container.service_cls, entrypoint.method_name, None)
            quiet = labels[2] == "timer" or getattr(method, "read_only", False) or getattr(method, "quiet", False)
            found = self._metrics[entrypoint] = (labels, REQUESTS.labels(*labels), LATENCY.labels(*labels),
                                                 logging.DEBUG if quiet else logging.INFO)
        return found

    def worker_teardown(self, worker_ctx):
        self.started.pop(worker_ctx, None)
        clear_context()
