"""The gateway's HTTP layer on nameko's web server.

`@route("GET", "/v1/orgs/{org_id}", ...)` declares an endpoint once: nameko
entrypoint, authentication, input loading with marshmallow, and its OpenAPI
entry. Handlers receive a `Call` and path values and return JSON-ready data
(as services answer it), a `Reply`, or a werkzeug Response.

Every response (errors, 404 for unknown paths included) is JSON in the api.md
error format and carries `X-Request-Id`."""
import functools
import json
import logging
import re
import socket
import uuid
from dataclasses import dataclass, field
from functools import partial

from eventlet.event import Event
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError
from nameko.exceptions import RemoteError, UnknownService
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer
from prometheus_client import Counter
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.wrappers import Request, Response

from contracts.errors import AppError, ErrorCode, http_status
from gateway.auth import Principal, authenticate
from servicekit import config

log = logging.getLogger(__name__)

HTTP_RESPONSES = Counter("http_responses_total", "Gateway responses", ["method", "route", "status"])
JSON_TYPE = "application/json; charset=utf-8"
MAX_JSON_BYTES = int(config.env("GATEWAY_MAX_JSON_BYTES", str(1024 * 1024)))
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

PUBLIC = "public"  # no credentials
USER = "user"  # any signed-in person (access token)
MACHINE = "machine"  # an API token (scope checked by the handler or `scope=`)


@dataclass
class Reply:
    body: object = None
    status: int = 200
    headers: dict = field(default_factory=dict)


@dataclass
class Call:
    request: Request
    principal: Principal | None
    body: dict | None
    query: dict
    request_id: str


def json_response(payload, status: int = 200, headers=None) -> Response:
    return Response(json.dumps(payload, default=str), status=status, headers=headers, content_type=JSON_TYPE)


def error_response(code: str, message: str, details=None, status: int | None = None) -> Response:
    body = {"error": {"code": str(code), "message": message, "details": details or {}}}
    return json_response(body, status or http_status(code))


def request_id_of(request: Request) -> str:
    given = request.headers.get("X-Request-Id", "")
    return given if REQUEST_ID_PATTERN.match(given) else str(uuid.uuid4())


def response_for_exception(exc: BaseException) -> Response:
    if isinstance(exc, AppError):
        return error_response(exc.code, exc.message, exc.details)
    if isinstance(exc, ValidationError):
        return error_response(ErrorCode.INVALID_INPUT, "invalid input", exc.messages)
    if isinstance(exc, UnknownService):
        return error_response(ErrorCode.SERVICE_UNAVAILABLE, "a service is not available")
    if isinstance(exc, NotFound):
        return error_response(ErrorCode.NOT_FOUND, "no such endpoint")
    if isinstance(exc, MethodNotAllowed):
        return error_response(ErrorCode.METHOD_NOT_ALLOWED, "method not allowed", status=405)
    if isinstance(exc, HTTPException):
        return error_response(ErrorCode.INVALID_INPUT, exc.description or "bad request", status=exc.code)
    if isinstance(exc, RemoteError):
        log.error("service error: %s %s", exc.exc_type, exc.value)
    else:
        log.error("unexpected error in gateway", exc_info=exc)
    return error_response(ErrorCode.INTERNAL, "internal error; quote the request id to support", status=500)


class ApiWebServer(WebServer):
    """nameko's web server, with JSON errors for unknown paths and methods."""

    def get_wsgi_app(self):
        return ApiWsgiApp(self)

    def get_wsgi_server(self, sock, wsgi_app, **kwargs):
        # Accepted sockets inherit TCP_NODELAY: without it, mid-sized JSON
        # replies wait ~40 ms on Nagle + delayed ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        server = super().get_wsgi_server(sock, wsgi_app, **kwargs)
        # eventlet formats an access line per request even though its logger
        # drops it (servicekit.logs); the access line is servicekit.observability's.
        server.log_output = False
        return server


class ApiWsgiApp:
    def __init__(self, server):
        self.url_map = server.make_url_map()

    def __call__(self, environ, start_response):
        request = Request(environ, shallow=True)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            provider, values = adapter.match()
            request.path_values = values
            response = provider.handle_request(request)
        except HTTPException as exc:
            response = response_for_exception(exc)
            response.headers["X-Request-Id"] = request_id_of(request)
        return response(environ, start_response)


class ApiEntrypoint(HttpRequestHandler):
    server = ApiWebServer()

    def setup(self):
        super().setup()
        self._responses: dict = {}  # status -> HTTP_RESPONSES child (`.labels()` locks and hashes)

    def check_signature(self, args, kwargs):
        """Handlers take (call, **path values); `route` builds the call."""

    def handle_request(self, request):
        request.shallow = False
        request_id = request.request_id = request_id_of(request)  # one id for the call and the reply
        response = self._respond(request, request_id)
        counter = self._responses.get(response.status_code)
        if counter is None:
            counter = self._responses[response.status_code] = HTTP_RESPONSES.labels(
                self.method, self.url, str(response.status_code))
        counter.inc()
        return response

    def _respond(self, request, request_id):
        try:
            event = Event()
            self.container.spawn_worker(
                self, (request,), dict(request.path_values), context_data={"correlation_id": request_id},
                handle_result=partial(self.handle_result, event),
            )
            response = event.wait()
        except Exception as exc:
            response = response_for_exception(exc)
        response.headers["X-Request-Id"] = request_id
        return response

    def handle_result(self, event, worker_ctx, result, exc_info):
        response = to_response(result) if exc_info is None else response_for_exception(exc_info[1])
        event.send(response)
        return result, exc_info


def to_response(result) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, Reply):
        if result.body is None and result.status == 204:
            return Response(status=204, headers=result.headers)
        return json_response(result.body, result.status, result.headers)
    return json_response(result)


# ---------------------------------------------------------------- routes ---


@dataclass
class RouteSpec:
    method: str
    path: str
    summary: str
    auth: str
    body: type[Schema] | None
    query: type[Schema] | None
    response: type[Schema] | None
    many: bool
    status: int
    tags: tuple
    errors: tuple
    content_type: str | None


ROUTES: list[RouteSpec] = []


def werkzeug_path(path: str) -> str:
    return re.sub(r"\{(\w+)\}", r"<\1>", path)


def load_json(request: Request, schema: Schema, max_bytes: int):
    if request.content_length is not None and request.content_length > max_bytes:
        raise AppError(ErrorCode.PAYLOAD_TOO_LARGE, f"the body is larger than {max_bytes} bytes")
    if request.mimetype != "application/json":
        raise AppError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "send the body as application/json")
    raw = request.stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise AppError(ErrorCode.PAYLOAD_TOO_LARGE, f"the body is larger than {max_bytes} bytes")
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise AppError(ErrorCode.MALFORMED_JSON, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise AppError(ErrorCode.INVALID_INPUT, "the body must be a JSON object", {"_schema": ["expected an object"]})
    return schema.load(data, unknown=RAISE)


def load_query(request: Request, schema: Schema) -> dict:
    values = {key: request.args.get(key) for key in request.args}
    return schema.load(values, unknown=EXCLUDE)


def route(method: str, path: str, *, summary: str, auth: str = USER, body: type[Schema] | None = None,
          query: type[Schema] | None = None, response: type[Schema] | None = None, many: bool = False,
          status: int = 200, tags: tuple = (), errors: tuple = (), content_type: str | None = None,
          max_bytes: int = MAX_JSON_BYTES):
    """Declare an endpoint of the gateway (see module docstring)."""
    spec = RouteSpec(method, path, summary, auth, body, query, response, many, status, tuple(tags), tuple(errors),
                     content_type)
    ROUTES.append(spec)

    def decorator(fn):
        @functools.wraps(fn)
        def endpoint(self, request, **path_values):
            principal = None
            if auth != PUBLIC:
                principal = authenticate(request, self.identity)
                if auth == USER and principal.is_machine:
                    raise AppError(ErrorCode.FORBIDDEN, "this endpoint is for people, not API tokens")
                if auth == MACHINE and not principal.is_machine:
                    raise AppError(ErrorCode.FORBIDDEN, "this endpoint takes an API token")
            call = Call(
                request=request,
                principal=principal,
                body=load_json(request, body(), max_bytes) if body is not None else None,
                query=load_query(request, query()) if query is not None else {},
                request_id=request.request_id,
            )
            result = fn(self, call, **path_values)
            # Services answer with data already dumped by the contract schemas;
            # the response schema documents it (OpenAPI) and is not applied twice.
            if status != 200 and not isinstance(result, Response | Reply):
                result = Reply(result, status)
            return result

        return ApiEntrypoint.decorator(method, werkzeug_path(path))(endpoint)

    return decorator
