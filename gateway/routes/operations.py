"""The gateway's operational endpoints on its API port: /healthz, /readyz, /v1/openapi.json.
(/metrics is on the ops port only: servicekit.observability.)"""
from marshmallow import Schema, fields

from contracts.errors import AppError
from gateway.http import PUBLIC, Reply, json_response, route
from gateway.openapi import build_spec
from gateway.routes import SERVICES, Routes
from servicekit import config
from servicekit.observability import broker_ready


class Readiness(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok", "unavailable"]})
    checks = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                         metadata={"description": "broker and each service: ok, or what went wrong"})


class Health(Schema):
    status = fields.String(required=True)


class OperationsRoutes(Routes):
    @route("GET", "/healthz", auth=PUBLIC, tags=("operations",), response=Health,
           summary="The gateway process is alive")
    def healthz(self, call):
        return {"status": "ok"}

    @route("GET", "/readyz", auth=PUBLIC, tags=("operations",), response=Readiness,
           summary="Broker reachable and the services the gateway needs answering",
           responses={503: ("Not ready: the checks say what is not answering", "application/json", Readiness)})
    def readyz(self, call):
        checks = {"broker": broker_ready(config.broker_url())[1]}
        # Ready when every service the gateway routes to answers a ping.
        for service in SERVICES:
            try:
                getattr(self, service).ping()
                checks[service] = "ok"
            except AppError as exc:
                checks[service] = exc.message
        ok = all(value == "ok" for value in checks.values())
        return Reply({"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503)

    @route("GET", "/v1/openapi.json", auth=PUBLIC, tags=("operations",), summary="This API's OpenAPI document")
    def openapi(self, call):
        return json_response(_spec())


_cached_spec = None


def _spec() -> dict:
    global _cached_spec
    if _cached_spec is None:
        _cached_spec = build_spec()
    return _cached_spec
