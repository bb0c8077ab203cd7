"""Metrics, health and correlation for every service.

`observability = Observability()` on a service:
* times every entrypoint: `entrypoint_requests_total`, `entrypoint_errors_total`,
  `entrypoint_duration_seconds` (labels: service, entrypoint, kind);
* logs one line per call (INFO; at DEBUG when a timer tick or a read-only RPC succeeds);
* adopts or starts the correlation id of each worker (see servicekit.context);
* serves `/metrics`, `/healthz` and `/readyz` on the service's ops port.
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
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from contracts.errors import AppError
from servicekit import config
from servicekit.context import ensure_correlation_id, set_correlation_id

log = logging.getLogger(__name__)

REQUESTS = Counter("entrypoint_requests_total", "Entrypoint calls", ["service", "entrypoint", "kind"])
ERRORS = Counter(
    "entrypoint_errors_total", "Entrypoint calls that raised", ["service", "entrypoint", "kind", "error"]
)
LATENCY = Histogram(
    "entrypoint_duration_seconds",
    "Entrypoint latency",
    ["service", "entrypoint", "kind"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


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


class Observability(DependencyProvider):
    def __init__(self, serve_ops: bool = True):
        self.serve_ops = serve_ops
        self.started: dict = {}
        self.port: int | None = None
        self._metrics: dict = {}  # entrypoint -> (labels, requests child, latency child, log level if ok)

    def setup(self):
        self.service = self.container.service_name

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
        if exc_info is not None:
            error = exc_info[1]
            outcome = error.code if isinstance(error, AppError) else error.__class__.__name__
            ERRORS.labels(*labels, outcome).inc()
            level = logging.INFO
        if log.isEnabledFor(level):
            log.log(level, "%s %s %s", labels[2], labels[1], outcome,
                    extra={"entrypoint": labels[1], "kind": labels[2], "outcome": outcome,
                           "duration_ms": round(elapsed * 1000, 2)})

    def _metrics_of(self, entrypoint):
        # Looked up once per entrypoint: `.labels()` takes a lock and hashes the labels.
        found = self._metrics.get(entrypoint)
        if found is None:
            labels = (self.service, entrypoint.method_name, entrypoint_kind(entrypoint))
            # One line per call; at DEBUG when it succeeds for timers (they fire every
            # second) and read-only RPCs (hot queries; the gateway logs each request).
            method = getattr(self.container.service_cls, entrypoint.method_name, None)
            quiet = labels[2] == "timer" or getattr(method, "read_only", False)
            found = self._metrics[entrypoint] = (labels, REQUESTS.labels(*labels), LATENCY.labels(*labels),
                                                 logging.DEBUG if quiet else logging.INFO)
        return found

    def worker_teardown(self, worker_ctx):
        self.started.pop(worker_ctx, None)
        set_correlation_id(None)
