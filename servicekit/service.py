"""Base for every domain service: its database (unit of work + outbox relay),
observability, and a `ping` RPC the gateway's readiness check uses."""
from nameko.rpc import rpc

from servicekit.db import Database
from servicekit.observability import Observability


class ServiceBase:
    name: str = ""
    db = Database()
    observability = Observability()

    @rpc
    def ping(self):
        return "pong"
