"""RPC to another service with a deadline, for the gateway and services alike:
a service that does not answer in time is SERVICE_UNAVAILABLE (503 at the
gateway), never a hung request or worker.

    class Programs(ServiceBase):
        identity = ServiceRpc("identity")              # deadline: RPC_TIMEOUT
        ...
        self.identity.get_person(org_id, user_id)      # AppError(SERVICE_UNAVAILABLE) when late
        self.programs.with_long_timeout().remove_program(...)   # RPC_LONG_TIMEOUT

The deadlines are read from the container's configuration when the service
starts (`servicekit.config.nameko_config`), not at import."""
from functools import partial

import eventlet
from nameko.exceptions import UnknownService
from nameko.rpc import RpcProxy
from prometheus_client import Counter

from contracts.errors import AppError, ErrorCode
from servicekit import serialization
from servicekit.broker import CONNECTION_ERRORS

serialization.install()  # JSON messages decoded without kombu's per-object hook when none needs it

DEFAULT_TIMEOUT = 10.0
DEFAULT_LONG_TIMEOUT = 120.0
UNAVAILABLE = Counter("learnadmin_rpc_unavailable_total",
                      "RPC calls that failed as SERVICE_UNAVAILABLE: no answer in time (timeout) or no consumer",
                      ["caller", "target", "reason"])
REASONS = ("timeout", "no_consumer")


class TimedMethod:
    def __init__(self, service: str, method, timeout: float, failures: dict | None = None):
        self.service = service
        self.method = method
        self.timeout = timeout
        self.failures = failures or {}  # reason -> UNAVAILABLE child

    def __call__(self, *args, **kwargs):
        try:
            with eventlet.Timeout(self.timeout):
                return self.method.call_async(*args, **kwargs).result()
        except eventlet.Timeout:
            self._count("timeout")
            raise AppError(ErrorCode.SERVICE_UNAVAILABLE, f"{self.service} did not answer in time") from None
        except UnknownService:
            self._count("no_consumer")
            raise AppError(ErrorCode.SERVICE_UNAVAILABLE, f"{self.service} is not available") from None
        except CONNECTION_ERRORS:  # servicekit.broker not installed (standalone use): still a refusal
            raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "the message broker is unreachable") from None

    def _count(self, reason: str) -> None:
        counter = self.failures.get(reason)
        if counter is not None:
            counter.inc()


class TimedServiceProxy:
    def __init__(self, service: str, make_proxy, timeout: float, long_timeout: float = DEFAULT_LONG_TIMEOUT,
                 failures: dict | None = None):
        self._failures = failures
        self._service = service
        self._make_proxy = make_proxy
        self._proxy = None
        self._timeout = timeout
        self._long_timeout = long_timeout

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if self._proxy is None:
            self._proxy = self._make_proxy()
        return TimedMethod(self._service, getattr(self._proxy, name), self._timeout, self._failures)

    def with_timeout(self, seconds: float) -> "TimedServiceProxy":
        """The same service with another deadline, for the rare call that is
        long by nature (e.g. removing a program of 100,000 members)."""
        proxy = TimedServiceProxy(self._service, self._make_proxy, seconds, self._long_timeout, self._failures)
        proxy._proxy = self._proxy
        return proxy

    def with_long_timeout(self) -> "TimedServiceProxy":
        """The same service with the long deadline (RPC_LONG_TIMEOUT)."""
        return self.with_timeout(self._long_timeout)


class ServiceRpc(RpcProxy):
    """`identity = ServiceRpc("identity")`: nameko's RpcProxy with a deadline
    per call (`timeout`, else the container's RPC_TIMEOUT)."""

    def __init__(self, target_service: str, timeout: float | None = None, **options):
        self.timeout = timeout
        self.long_timeout = DEFAULT_LONG_TIMEOUT
        super().__init__(target_service, **options)

    def setup(self):
        super().setup()
        settings = self.container.config
        if self.timeout is None:
            self.timeout = float(settings.get("RPC_TIMEOUT", DEFAULT_TIMEOUT))
        self.long_timeout = float(settings.get("RPC_LONG_TIMEOUT", DEFAULT_LONG_TIMEOUT))
        # at 0 from start, so rate() sees the first failure (per-service reachability alerts)
        self.failures = {reason: UNAVAILABLE.labels(self.container.service_name, self.target_service, reason)
                         for reason in REASONS}

    def get_dependency(self, worker_ctx):
        # nameko's proxy is built on first use: a request calls one or two of its services.
        return TimedServiceProxy(self.target_service, partial(super().get_dependency, worker_ctx),
                                 self.timeout, self.long_timeout, self.failures)
