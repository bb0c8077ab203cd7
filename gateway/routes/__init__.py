"""One module per area of the API (docs/api.md); each holds a `Routes` class
that `gateway.http.mount` composes into the gateway service."""
from gateway.scope import Scope

SERVICES = ("audit", "identity", "invitations", "messaging", "programs")  # what the gateway calls


class Routes:
    """The routes of one area, built per request around the gateway instance:
    handlers reach the services as `self.identity`, `self.programs`, ... and
    check what the caller may touch with `self.scope`."""

    def __init__(self, gateway):
        self.identity = gateway.identity
        self.programs = gateway.programs
        self.invitations = gateway.invitations
        self.messaging = gateway.messaging
        self.audit = gateway.audit
        self.scope = Scope(self.identity, self.programs, self.invitations, self.messaging)
