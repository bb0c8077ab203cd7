"""The gateway's operational endpoints on its API port: /healthz, /readyz, /v1/openapi.json.
(/metrics is on the ops port only: servicekit.observability.)"""
from marshmallow import Schema, fields

from gateway.http import PUBLIC, Reply, json_response, route
from gateway.openapi import build_spec
from gateway.routes import Routes
from servicekit import config
from servicekit.observability import broker_ready


class Readiness(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok", "unavailable"]})
    checks = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                         metadata={"description": "broker: ok, or what went wrong"})


class Health(Schema):
    status = fields.String(required=True)


class OperationsRoutes(Routes):
    @route("GET", "/healthz", auth=PUBLIC, tags=("operations",), response=Health,
           summary="The gateway process is alive")
    def healthz(self, call):
        return {"status": "ok"}

    @route("GET", "/readyz", auth=PUBLIC, tags=("operations",), response=Readiness,
           summary="The message broker is reachable",
           responses={503: ("Not ready: the broker is unreachable", "application/json", Readiness)})
    def readyz(self, call):
        # The broker only: without it no route works. A service that is down
        # makes only its own routes answer 503 (metric learnadmin_gateway_service_reachable).
        ok, message = broker_ready(config.broker_url("gateway"))
        return Reply({"status": "ok" if ok else "unavailable", "checks": {"broker": message}}, 200 if ok else 503)

    @route("GET", "/v1/openapi.json", auth=PUBLIC, tags=("operations",), summary="This API's OpenAPI document")
    def openapi(self, call):
        return json_response(_spec())


_cached_spec = None


def _spec() -> dict:
    global _cached_spec
    if _cached_spec is None:
        _cached_spec = build_spec()
    return _cached_spec
