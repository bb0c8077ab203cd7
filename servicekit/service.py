"""Base for every domain service: its database (unit of work + outbox relay)
and observability. Subclasses set `name` and declare entrypoints."""
from servicekit.db import Database
from servicekit.observability import Observability


class ServiceBase:
    name: str = ""
    db = Database()
    observability = Observability()
