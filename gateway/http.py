"""The gateway's HTTP layer on nameko's web server.

`@route("GET", "/v1/orgs/{org_id}", ...)` on a route module's method declares
an endpoint once: authentication (and the API token scope that opens it),
input loading with marshmallow, and its OpenAPI entry; `mount` makes each a
nameko HTTP entrypoint of the gateway. Handlers receive a `Call` and path
values and return JSON-ready data (as services answer it), a `Reply`, or a
werkzeug Response.

Before any handler runs, every string of the request (path, query, body) is
checked to be text (no NUL, no lone surrogate: 400), a path id to be a UUID
(else 404) and a body to be at most MAX_JSON_DEPTH deep (400).

Every response (errors, 404 for unknown paths included) is JSON in the error
format of docs/api.md and carries `X-Request-Id`."""
import json
import logging
import re
import socket
import uuid
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import unquote_to_bytes

import eventlet.wsgi
from eventlet.event import Event
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError
from nameko.exceptions import RemoteError, UnknownService
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer
from prometheus_client import Counter
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.wrappers import Request, Response

from contracts.errors import AppError, ErrorCode
from contracts.fields import FieldCode, Problem, character_problem, uuid_problem
from gateway.auth import Principal, authenticate
from gateway.client import request_client
from gateway.statuses import http_status
from servicekit import broker, config
from servicekit.context import ActorKind, set_caller

log = logging.getLogger(__name__)

HTTP_RESPONSES = Counter("learnadmin_http_responses_total", "Gateway responses by status code",
                         ["method", "route", "code"])
SERVER_ERROR_STATUSES = ("500", "503")  # series at 0 from start for every route
JSON_TYPE = "application/json; charset=utf-8"
RETRY_AFTER_SECONDS = 5
MAX_JSON_BYTES = int(config.env("GATEWAY_MAX_JSON_BYTES", str(1024 * 1024)))
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
MAX_URI_BYTES = 8192  # path + query string; longer is 414 URI_TOO_LONG
# eventlet answers a bare-text 414 past its own limit; ours is higher so that
# the JSON 414 above answers any URI a client is likely to send.
MAX_REQUEST_LINE_BYTES = 1024 * 1024
# eventlet refuses (bare 400) a header line of 8 KB and 64 KB of headers in all. A program admin's access token
# carries their program ids (about 55 bytes each): 200 programs make an 11 KB Authorization header, which the
# console sends the gateway directly (docs/console.md, "Sessions and security"). These allow ~1,100 programs.
MAX_HEADER_LINE_BYTES = 64 * 1024
MAX_HEADERS_BYTES = 128 * 1024
MAX_JSON_DEPTH = 32
CATALOG_ID_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")

PUBLIC = "public"  # no credentials
USER = "user"  # any signed-in person (access token)
MACHINE = "machine"  # API tokens only (with the route's `scope=`)
# USER routes are for people; one that names a `scope=` takes API tokens holding it too.


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
    client: str | None = None  # the client's address (gateway.client: X-Forwarded-For from trusted proxies only)


def name_caller(client: str | None, principal: Principal | None) -> None:
    """Who calls, for every event the request causes (servicekit.context:
    travels in the RPC headers to every service, into every event envelope).
    `client`: the client's address as gateway.client resolves it (X-Forwarded-For
    believed from TRUSTED_PROXIES only), the one the throttles count under too."""
    if principal is None:
        set_caller(None, None, client)
    elif principal.is_machine:
        set_caller(ActorKind.API_TOKEN, principal.api_token_id, client)
    else:
        set_caller(ActorKind.PERSON, principal.user_id, client)


def json_response(payload, status: int = 200, headers=None) -> Response:
    return Response(json.dumps(payload, default=str), status=status, headers=headers, content_type=JSON_TYPE)


def error_response(code: str, message: str, details=None, status: int | None = None) -> Response:
    body = {"error": {"code": str(code), "message": message, "details": details or {}}}
    retry_after = details.get("retry_after_seconds") if isinstance(details, dict) else None
    headers = {"Retry-After": str(int(retry_after))} if isinstance(retry_after, int | float) else None
    if headers is None and code == ErrorCode.SERVICE_UNAVAILABLE:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}  # a broker or service fault lasts seconds
    return json_response(body, status or http_status(code), headers)


# Paths whose errors another protocol shapes (SCIM 2.0: RFC 7644 3.12): prefix -> exception -> Response.
ERROR_FORMATS: dict[str, object] = {}


def error_format(path: str):
    for prefix, render in ERROR_FORMATS.items():
        if path.startswith(prefix):
            return render
    return None


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
    if isinstance(exc, broker.CONNECTION_ERRORS):
        log.warning("broker unreachable: %s", exc)
        return error_response(ErrorCode.SERVICE_UNAVAILABLE, "the message broker is unreachable")
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
        server.url_length_limit = MAX_REQUEST_LINE_BYTES
        eventlet.wsgi.MAX_HEADER_LINE = MAX_HEADER_LINE_BYTES  # module globals, read per request
        eventlet.wsgi.MAX_TOTAL_HEADER_SIZE = MAX_HEADERS_BYTES
        return server


class ApiWsgiApp:
    def __init__(self, server):
        self.url_map = server.make_url_map()

    def __call__(self, environ, start_response):
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            # eventlet decodes chunked bodies and ends the stream itself; werkzeug
            # reads a body without Content-Length only when told so (else: empty).
            environ["wsgi.input_terminated"] = True
        request = Request(environ, shallow=True)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            if len(environ.get("RAW_PATH_INFO") or environ.get("PATH_INFO", "")) + \
                    len(environ.get("QUERY_STRING", "")) > MAX_URI_BYTES:
                raise AppError(ErrorCode.URI_TOO_LONG, f"the path and query are longer than {MAX_URI_BYTES} bytes")
            provider, values = adapter.match()
            request.path_values = values
            response = provider.handle_request(request)
        except (HTTPException, AppError) as exc:
            render = error_format(request.path)
            response = render(exc) if render is not None else response_for_exception(exc)
            response.headers["X-Request-Id"] = request_id_of(request)
        return response(environ, start_response)


class ApiEntrypoint(HttpRequestHandler):
    server = ApiWebServer()

    def setup(self):
        super().setup()
        self._responses: dict = {}  # status -> HTTP_RESPONSES child (`.labels()` locks and hashes)
        for status in SERVER_ERROR_STATUSES:
            HTTP_RESPONSES.labels(self.method, self.url, status)

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
            render = error_format(self.url)
            response = render(exc) if render is not None else response_for_exception(exc)
        response.headers["X-Request-Id"] = request_id
        return response

    def handle_result(self, event, worker_ctx, result, exc_info):
        if exc_info is None:
            response = to_response(result)
        else:
            render = error_format(self.url)
            response = render(exc_info[1]) if render is not None else response_for_exception(exc_info[1])
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
    max_bytes: int = MAX_JSON_BYTES
    # Other answers than `status` and the JSON errors, documented as they are:
    # {status: (description, content type, schema class or None for text)}.
    responses: dict = field(default_factory=dict)
    upload: type[Schema] | None = None  # a multipart form, read by the handler (documented only)
    scope: str | None = None  # the API token scope that opens this route to machine clients
    # Another protocol's JSON (SCIM): the body is taken as sent (`body` documents it), in these media types,
    # and answered in `media_type` (errors: gateway.http.ERROR_FORMATS).
    raw_body: bool = False
    media_types: tuple = ("application/json",)


ROUTES: list[RouteSpec] = []


def werkzeug_path(path: str) -> str:
    return re.sub(r"\{(\w+)\}", r"<\1>", path)


def refuse_characters(value: str, where: str) -> None:
    """NUL and lone surrogates are refused in every string a request carries
    (no service could store them): 400, whatever the field."""
    problem = character_problem(value)
    if problem:
        raise AppError(ErrorCode.INVALID_INPUT, "the request contains characters that are not text",
                       {where: [str(problem)]})


def too_deep() -> AppError:
    return AppError(ErrorCode.INVALID_INPUT, "the JSON is nested too deeply",
                    {"_schema": [str(Problem(FieldCode.TOO_DEEP, f"at most {MAX_JSON_DEPTH} levels"))]})


def may_hold_non_text(raw: bytes) -> bool:
    """Whether a JSON body could decode to a string with NUL or a lone surrogate: only through a `\\u`
    escape, or through the bytes of an encoded surrogate (json.loads decodes bytes with surrogatepass; they
    start with 0xED, as do some Hangul syllables). A raw NUL or control byte is not valid JSON at all."""
    return b"\\u" in raw or b"\xed" in raw


def check_json_strings(data, strings: bool = True) -> None:
    """Every key and string of a parsed body is text, and the body is at most
    MAX_JSON_DEPTH levels deep (walked without recursion). `strings=False`: the
    depth only (the raw body cannot hold what the strings are checked for:
    `may_hold_non_text`). A problem's place (`statements.3.actor`) is spelled
    out only when there is one."""
    pending = [(data, None, None, 1)]  # entries: (value, parent entry, key or index in the parent, depth)
    while pending:
        entry = pending.pop()
        value, depth = entry[0], entry[3]
        if depth > MAX_JSON_DEPTH:
            raise too_deep()
        if isinstance(value, dict | list) and value and depth == MAX_JSON_DEPTH:
            raise too_deep()  # its items, containers or not, are one level too deep
        if isinstance(value, dict):
            for key, item in value.items():
                if strings and character_problem(key):
                    refuse_characters(key, _place(entry))
                if strings or isinstance(item, dict | list):
                    pending.append((item, entry, key, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, entry, index, depth + 1) for index, item in enumerate(value)
                           if strings or isinstance(item, dict | list))
        elif strings and isinstance(value, str) and character_problem(value):
            refuse_characters(value, _place(entry))


def _place(entry) -> str:
    """Where an entry of check_json_strings is, as error details name it: `_schema` for the body itself, a
    top-level key alone, deeper places dotted (`statements.3.actor`; in a top-level list `_schema.3`)."""
    _, parent, key, _ = entry
    if parent is None:
        return "_schema"
    if parent[1] is None and isinstance(parent[0], dict):
        return str(key)
    return f"{_place(parent)}.{key}"


def read_raw_json(request: Request, max_bytes: int, media_types: tuple = ("application/json",)) -> bytes:
    """The raw body of a JSON request: at most `max_bytes`, sent in one of `media_types`."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise AppError(ErrorCode.PAYLOAD_TOO_LARGE, f"the body is larger than {max_bytes} bytes")
    if request.mimetype not in media_types:
        raise AppError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"send the body as {' or '.join(media_types)}")
    raw = request.stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise AppError(ErrorCode.PAYLOAD_TOO_LARGE, f"the body is larger than {max_bytes} bytes")
    return raw


def parse_json(raw: bytes):
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise AppError(ErrorCode.MALFORMED_JSON, "the body is not valid JSON") from None
    except RecursionError:
        raise too_deep() from None


def read_json(request: Request, max_bytes: int, media_types: tuple = ("application/json",)):
    """The JSON body, whatever its type: at most `max_bytes`, sent in one of `media_types`, valid JSON."""
    return parse_json(read_raw_json(request, max_bytes, media_types))


def load_json(request: Request, schema: Schema | None, max_bytes: int, media_types: tuple = ("application/json",)):
    """The body, loaded by `schema` (unknown fields refused); None: the checked JSON object as sent."""
    raw = read_raw_json(request, max_bytes, media_types)
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise AppError(ErrorCode.INVALID_INPUT, "the body must be a JSON object", {"_schema": ["expected an object"]})
    check_json_strings(data, strings=may_hold_non_text(raw))
    return data if schema is None else schema.load(data, unknown=RAISE)


def check_query(request: Request) -> None:
    try:  # werkzeug would quietly replace bytes that are not UTF-8 with U+FFFD
        unquote_to_bytes(request.query_string.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise AppError(ErrorCode.INVALID_INPUT, "the query string is not UTF-8 text",
                       {"_query": [str(Problem(FieldCode.INVALID_CHARACTER, "bytes that are not UTF-8"))]}) from None
    for key, value in request.args.items(multi=True):
        refuse_characters(key, key)
        refuse_characters(value, key)


def load_query(request: Request, schema: Schema) -> dict:
    values = {key: request.args.get(key) for key in request.args}
    return schema.load(values, unknown=EXCLUDE)


# Catalog ids (courses, specializations) are the catalog's own ids, not UUIDs.
CATALOG_ID_PARAMETERS = frozenset({"course_id", "specialization_id"})


def is_id_parameter(name: str) -> bool:
    """Path parameters named `*_id` are UUIDs (catalog ids excepted); others (`token`, `slug`) are text."""
    return name.endswith("_id") and name not in CATALOG_ID_PARAMETERS


def check_path(path_values: dict) -> dict:
    """A path id that is not a UUID names nothing: 404, decided here for every
    service. Ids are passed on in their canonical (lower-case) form."""
    checked = {}
    for name, value in path_values.items():
        if is_id_parameter(name):
            if uuid_problem(value):
                raise AppError(ErrorCode.NOT_FOUND, f"{name.removesuffix('_id').replace('_', ' ')} not found")
            value = value.lower()
        else:
            refuse_characters(value, name)
            if name in CATALOG_ID_PARAMETERS and not CATALOG_ID_PATTERN.match(value):
                raise AppError(ErrorCode.NOT_FOUND, f"{name.removesuffix('_id')} not found")
        checked[name] = value
    return checked


def route(method: str, path: str, *, summary: str, auth: str = USER, body: type[Schema] | None = None,
          query: type[Schema] | None = None, response: type[Schema] | None = None, many: bool = False,
          status: int = 200, tags: tuple = (), errors: tuple = (), content_type: str | None = None,
          max_bytes: int = MAX_JSON_BYTES, responses: dict | None = None, upload: type[Schema] | None = None,
          scope: str | None = None, raw_body: bool = False, media_types: tuple = ("application/json",)):
    """Declare an endpoint on a route module's method (see module docstring);
    `mount` makes it a nameko entrypoint of the gateway."""
    spec = RouteSpec(method, path, summary, auth, body, query, response, many, status, tuple(tags), tuple(errors),
                     content_type, max_bytes, dict(responses or {}), upload, scope, raw_body, tuple(media_types))

    def decorator(fn):
        fn.route_spec = spec
        return fn

    return decorator


def mount(service_cls, *route_modules) -> None:
    """Give `service_cls` one nameko HTTP entrypoint per route of the modules.
    A module is composed, not inherited: each request builds it around the
    service instance (`route_module(service)`), and calls the handler on it."""
    for module in route_modules:
        for name, fn in vars(module).items():
            spec = getattr(fn, "route_spec", None)
            if spec is None:
                continue
            if hasattr(service_cls, name):
                raise TypeError(f"{module.__name__}.{name}: the gateway already has an attribute {name!r}")
            setattr(service_cls, name, _entrypoint(module, fn, spec))
            ROUTES.append(spec)


def refuse_unscoped(principal: Principal, scope: str | None) -> None:
    """API tokens reach only the routes that name a scope they hold."""
    if scope is None:
        raise AppError(ErrorCode.FORBIDDEN, "this endpoint is for people, not API tokens")
    if scope not in principal.scopes:
        raise AppError(ErrorCode.INSUFFICIENT_SCOPE, f"this endpoint needs an API token with the scope {scope}",
                       {"required_scope": scope})


def _entrypoint(module, handler, spec: RouteSpec):
    def endpoint(service, request, **path_values):
        principal = None
        client = request_client(request, getattr(getattr(service, "settings", None), "trusted_proxies", ()))
        name_caller(client, None)  # the client address, for unauthenticated routes too (sign-ins)
        if spec.auth != PUBLIC:
            principal = authenticate(request, service.identity)
            if principal.is_machine:
                refuse_unscoped(principal, spec.scope)
            elif spec.auth == MACHINE:
                raise AppError(ErrorCode.FORBIDDEN, "this endpoint takes an API token")
            name_caller(client, principal)
        path_values = check_path(path_values)
        if request.query_string:
            check_query(request)
        call = Call(
            request=request,
            principal=principal,
            body=load_json(request, None if spec.raw_body else spec.body(), spec.max_bytes, spec.media_types)
            if spec.body is not None else None,
            query=load_query(request, spec.query()) if spec.query is not None else {},
            request_id=request.request_id,
            client=client,
        )
        result = handler(module(service), call, **path_values)
        # Services answer with data already dumped by the contract schemas;
        # the response schema documents it (OpenAPI) and is not applied twice.
        if spec.status != 200 and not isinstance(result, Response | Reply):
            result = Reply(result, spec.status)
        return result

    endpoint.__name__ = endpoint.__qualname__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return ApiEntrypoint.decorator(spec.method, werkzeug_path(spec.path))(endpoint)
