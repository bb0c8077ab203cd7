"""The gateway service: the RPC clients it needs (servicekit.rpc: a deadline per call), and the route modules
composed into it (one nameko HTTP entrypoint per route, see gateway.http.mount). Its /metrics (with
/healthz and /readyz) is served on the ops port (GATEWAY_OPS_PORT, 9100; servicekit.observability), off
the API port and its worker pool."""
import eventlet
from prometheus_client import Gauge

from gateway.client import GatewaySettings
from gateway.http import mount
from gateway.routes import SERVICES
from gateway.routes.audit import AuditRoutes
from gateway.routes.identity import IdentityRoutes
from gateway.routes.invitations import InvitationsRoutes
from gateway.routes.keys import KeysRoutes
from gateway.routes.messaging import MessagingRoutes
from gateway.routes.operations import OperationsRoutes
from gateway.routes.programs import ProgramsRoutes
from gateway.routes.reporting import ReportingRoutes
from gateway.routes.reports import ReportsRoutes
from gateway.routes.scim import ScimRoutes
from gateway.routes.skills import SkillsRoutes
from gateway.routes.sso import SsoRoutes
from servicekit.entrypoints import timer
from servicekit.observability import PREFIX, Observability
from servicekit.rpc import ServiceRpc
from servicekit.service import ServiceSettings

SERVICE_REACHABLE = Gauge(f"{PREFIX}gateway_service_reachable",
                          "1 when the service answered the gateway's last ping, else 0", ["service"])
PING_INTERVAL_SECONDS = 5.0
PING_TIMEOUT_SECONDS = 2.0


class Gateway:
    name = "gateway"
    verifies_access_tokens = True  # with public keys only (gateway.auth, servicekit.signing)
    observability = Observability()
    settings = ServiceSettings(GatewaySettings)  # TRUSTED_PROXIES, read when the gateway starts
    identity = ServiceRpc("identity")
    programs = ServiceRpc("programs")
    messaging = ServiceRpc("messaging")
    invitations = ServiceRpc("invitations")
    reporting = ServiceRpc("reporting")
    skills = ServiceRpc("skills")
    audit = ServiceRpc("audit")
    # A broker fault is a fast 503 rather than a request held for the whole
    # publish retry (servicekit.broker, applied by servicekit.run).
    publish_retry_seconds = 2.0

    @timer(interval=PING_INTERVAL_SECONDS)
    def ping_services(self):
        """Keep `learnadmin_gateway_service_reachable{service}` current (alerts, dashboards):
        /readyz follows the broker only, a service down makes only its routes 503."""
        def ping(service):
            try:
                getattr(self, service).with_timeout(PING_TIMEOUT_SECONDS).ping()
                return service, 1
            except Exception:
                return service, 0

        for service, up in eventlet.GreenPool().imap(ping, SERVICES):
            SERVICE_REACHABLE.labels(service).set(up)


mount(Gateway, IdentityRoutes, InvitationsRoutes, MessagingRoutes, ProgramsRoutes, ReportingRoutes, OperationsRoutes,
      KeysRoutes, ReportsRoutes, SkillsRoutes, AuditRoutes, ScimRoutes, SsoRoutes)
