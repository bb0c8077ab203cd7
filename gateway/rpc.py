"""RPC to the services with a deadline: a service that does not answer in time
is a 503 SERVICE_UNAVAILABLE for the client, never a hung request."""
from functools import partial

import eventlet
from nameko.exceptions import UnknownService
from nameko.rpc import RpcProxy

from contracts.errors import AppError, ErrorCode
from servicekit import config

DEFAULT_TIMEOUT = float(config.env("RPC_TIMEOUT", "10"))
LONG_TIMEOUT = float(config.env("RPC_LONG_TIMEOUT", "120"))


class _TimedMethod:
    def __init__(self, service: str, method, timeout: float):
        self.service = service
        self.method = method
        self.timeout = timeout

    def __call__(self, *args, **kwargs):
        try:
            with eventlet.Timeout(self.timeout):
                return self.method.call_async(*args, **kwargs).result()
        except eventlet.Timeout:
            raise AppError(ErrorCode.SERVICE_UNAVAILABLE, f"{self.service} did not answer in time") from None
        except UnknownService:
            raise AppError(ErrorCode.SERVICE_UNAVAILABLE, f"{self.service} is not available") from None


class _TimedServiceProxy:
    def __init__(self, service: str, make_proxy, timeout: float):
        self._service = service
        self._make_proxy = make_proxy
        self._proxy = None
        self._timeout = timeout

    def __getattr__(self, name):
        if self._proxy is None:
            self._proxy = self._make_proxy()
        return _TimedMethod(self._service, getattr(self._proxy, name), self._timeout)

    def with_timeout(self, seconds: float) -> "_TimedServiceProxy":
        """The same service with another deadline, for the rare call that is
        long by nature (e.g. removing a program of 100,000 members)."""
        proxy = _TimedServiceProxy(self._service, self._make_proxy, seconds)
        proxy._proxy = self._proxy
        return proxy


class ServiceRpc(RpcProxy):
    """`identity = ServiceRpc("identity")`: like nameko's RpcProxy, with a timeout."""

    def __init__(self, target_service: str, timeout: float = DEFAULT_TIMEOUT, **options):
        self.timeout = timeout
        super().__init__(target_service, **options)

    def get_dependency(self, worker_ctx):
        # nameko's proxy is built on first use: a request calls one or two of the gateway's services.
        return _TimedServiceProxy(self.target_service, partial(super().get_dependency, worker_ctx), self.timeout)
