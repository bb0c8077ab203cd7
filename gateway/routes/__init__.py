"""One module per area of the API (docs/api.md); each holds a `Routes` class
that `gateway.http.mount` composes into the gateway service."""
from contracts.errors import AppError, ErrorCode
from gateway.scope import Scope

# what the gateway calls
SERVICES = ("audit", "identity", "invitations", "messaging", "programs", "reporting", "skills")


class Routes:
    """The routes of one area, built per request around the gateway instance:
    handlers reach the services as `self.identity`, `self.programs`, ... and
    check what the caller may touch with `self.scope`."""

    def __init__(self, gateway):
        self.identity = gateway.identity
        self.programs = gateway.programs
        self.invitations = gateway.invitations
        self.messaging = gateway.messaging
        self.reporting = gateway.reporting
        self.skills = gateway.skills
        self.audit = gateway.audit
        self.scope = Scope(self.identity, self.programs, self.invitations, self.messaging)


def require_changes(body: dict) -> None:
    """A PATCH with nothing in it is 400 INVALID_INPUT, the same answer on every route."""
    if not body:
        raise AppError(ErrorCode.INVALID_INPUT, "nothing to change", {"_schema": ["send at least one field"]})
