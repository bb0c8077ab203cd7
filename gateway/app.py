"""The gateway service: every route mixin, the RPC proxies it needs, and the
operational endpoints (/healthz, /readyz, /metrics, /v1/openapi.json)."""
from werkzeug.wrappers import Response

from contracts.errors import AppError, ErrorCode
from gateway.http import PUBLIC, Reply, json_response, route
from gateway.openapi import build_spec
from gateway.routes.identity import IdentityRoutes
from gateway.routes.invitations import InvitationsRoutes
from gateway.routes.messaging import MessagingRoutes
from gateway.routes.programs import ProgramsRoutes
from gateway.rpc import ServiceRpc
from servicekit import config
from servicekit.observability import Observability, broker_ready, metrics_payload


class ScopeChecks:
    """Checks that need another service's answer. Program ownership lives in
    the programs service; the gateway asks it rather than trusting the client."""

    def check_programs_of_org(self, org_id: str, program_ids: list[str]) -> None:
        if not program_ids:
            return
        missing = self.programs.missing_programs(org_id, program_ids)
        if missing:
            raise AppError(ErrorCode.INVALID_INPUT, "unknown programs", {"program_ids": [f"unknown: {missing}"]})

    def require_person_in_scope(self, principal, org_id: str, user_id: str) -> None:
        """Org admins see everyone of their org; program admins the people of their programs."""
        allowed = principal.program_scope(org_id)
        if allowed is None:
            return
        if not allowed or not self.programs.person_in_programs(org_id, user_id, allowed):
            raise AppError(ErrorCode.NOT_FOUND, "person not found")


class Gateway(IdentityRoutes, ProgramsRoutes, MessagingRoutes, InvitationsRoutes, ScopeChecks):
    name = "gateway"
    observability = Observability(serve_ops=False)
    identity = ServiceRpc("identity")
    programs = ServiceRpc("programs")
    messaging = ServiceRpc("messaging")
    invitations = ServiceRpc("invitations")

    @route("GET", "/healthz", auth=PUBLIC, tags=("operations",), summary="The gateway process is alive")
    def healthz(self, call):
        return {"status": "ok"}

    @route("GET", "/readyz", auth=PUBLIC, tags=("operations",),
           summary="Broker reachable and the services the gateway needs answering")
    def readyz(self, call):
        checks = {"broker": broker_ready(config.broker_url())[1]}
        # Ready when every service the gateway routes to answers a ping.
        for service in sorted(name for name, value in vars(Gateway).items() if isinstance(value, ServiceRpc)):
            try:
                getattr(self, service).ping()
                checks[service] = "ok"
            except AppError as exc:
                checks[service] = exc.message
        ok = all(value == "ok" for value in checks.values())
        return Reply({"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503)

    @route("GET", "/metrics", auth=PUBLIC, tags=("operations",), summary="Prometheus metrics",
           content_type="text/plain")
    def metrics(self, call):
        body, content_type = metrics_payload()
        return Response(body, content_type=content_type)

    @route("GET", "/v1/openapi.json", auth=PUBLIC, tags=("operations",), summary="This API's OpenAPI document")
    def openapi(self, call):
        return json_response(_spec())

_cached_spec = None


def _spec() -> dict:
    global _cached_spec
    if _cached_spec is None:
        _cached_spec = build_spec()
    return _cached_spec
