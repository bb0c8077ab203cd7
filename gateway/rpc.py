"""RPC to the services with a deadline: the kit's timed proxy (servicekit.rpc)."""
from servicekit import config
from servicekit.rpc import ServiceRpc, TimedServiceProxy

# kept while the gateway moves to `proxy.with_long_timeout()` (read at start)
LONG_TIMEOUT = float(config.env("RPC_LONG_TIMEOUT", "120"))
_TimedServiceProxy = TimedServiceProxy

__all__ = ["LONG_TIMEOUT", "ServiceRpc", "TimedServiceProxy", "_TimedServiceProxy"]
