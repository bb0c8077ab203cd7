"""The gateway service: the RPC clients it needs (servicekit.rpc: a deadline per call), and the route modules
composed into it (one nameko HTTP entrypoint per route, see gateway.http.mount). Its /metrics (with
/healthz and /readyz) is served on the ops port (GATEWAY_OPS_PORT, 9100; servicekit.observability), off
the API port and its worker pool."""
from gateway.http import mount
from gateway.routes.identity import IdentityRoutes
from gateway.routes.invitations import InvitationsRoutes
from gateway.routes.messaging import MessagingRoutes
from gateway.routes.operations import OperationsRoutes
from gateway.routes.programs import ProgramsRoutes
from servicekit.observability import Observability
from servicekit.rpc import ServiceRpc


class Gateway:
    name = "gateway"
    observability = Observability()
    identity = ServiceRpc("identity")
    programs = ServiceRpc("programs")
    messaging = ServiceRpc("messaging")
    invitations = ServiceRpc("invitations")


mount(Gateway, IdentityRoutes, InvitationsRoutes, MessagingRoutes, ProgramsRoutes, OperationsRoutes)
