"""Base for every domain service: its database (unit of work + outbox relay),
observability, and a `ping` RPC the gateway's readiness check uses."""
from collections.abc import Mapping

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from servicekit.config import Settings
from servicekit.db import Database
from servicekit.observability import Observability


class ServiceBase:
    name: str = ""
    db = Database()
    observability = Observability()

    @rpc
    def ping(self):
        return "pong"

    # The gateway pings every service every 5 s (reachability gauge): success is logged at DEBUG.
    ping.quiet = True


class ServiceSettings(DependencyProvider):
    """`settings = ServiceSettings(MySettings)` on a service: the settings are
    read from the environment when the container sets up (a ConfigError
    stops the start) and every worker gets the same frozen instance."""

    def __init__(self, settings_class: type[Settings], environ: Mapping[str, str] | None = None):
        self.settings_class = settings_class
        self.environ = environ
        self.settings = None

    def setup(self):
        self.settings = self.settings_class.from_env(self.environ)

    def get_dependency(self, worker_ctx):
        return self.settings
