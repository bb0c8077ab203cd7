"""The Flask application: sessions, CSRF, security headers, the gateway client
and the error pages. Page handlers live in console/pages/."""
import hmac
import logging
import re
import secrets
import time
import uuid
from functools import wraps
from urllib.parse import urlencode, urlsplit

from flask import Flask, abort, g, redirect, render_template, request, session, url_for
from prometheus_client import Histogram
from werkzeug.exceptions import HTTPException

from console.gateway import ApiError, Gateway
from console.sessions import EncryptedSessionInterface, RefreshCoordinator
from console.settings import ConsoleSettings

log = logging.getLogger("console")
PAGE_SECONDS = Histogram("learnadmin_console_page_seconds", "Console responses (API time included)",
                         ["endpoint", "status"])
RENDER_SECONDS = Histogram("learnadmin_console_render_seconds",
                           "Console responses, the time spent outside gateway calls", ["endpoint"])
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
REFRESH_MARGIN_SECONDS = 30

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")


class SignInRequired(Exception):
    """No session, or it expired and could not be refreshed: back to sign-in, then to this page."""


# ---------------------------------------------------------------- sessions


def signed_in() -> bool:
    return "rt" in session


def current_user() -> dict | None:
    return session.get("user")


def start_session(tokens: dict) -> None:
    """Keep the tokens in the session cookie (HttpOnly, SameSite=Lax; never reachable by JavaScript)."""
    csrf = session.get("csrf")
    session.clear()
    session["csrf"] = csrf or secrets.token_urlsafe(32)
    _store_tokens(tokens)
    session["user"] = compact_user(gateway().call("GET", "/v1/me", tokens["access_token"]))
    session.permanent = True
    if is_admin() and org_id():  # the organization's branding on every admin page
        try:
            org = gateway().call("GET", f"/v1/orgs/{org_id()}", tokens["access_token"])
            session["brand"] = {k: org.get(k) for k in ("name", "brand_color", "logo_url")}
        except ApiError as exc:
            log.warning("no branding: %s", exc.code)


def compact_user(me: dict) -> dict:
    """What the pages use of GET /v1/me: the cookie stays small (a browser keeps 4 KB; the access token
    already carries a program admin's program ids, which the console never reads from the session)."""
    roles = []
    for role in me.get("roles") or []:
        kept = {"role": role.get("role"), "org_id": role.get("org_id")}
        if kept not in roles:
            roles.append(kept)
    return {"id": me.get("id"), "email": me.get("email"), "full_name": me.get("full_name"), "roles": roles}


def _store_tokens(tokens: dict) -> None:
    session["at"] = tokens["access_token"]
    session["rt"] = tokens["refresh_token"]
    session["exp"] = int(time.time()) + int(tokens.get("expires_in") or 900)


def end_session() -> None:
    """Sign out: the refresh token is revoked by the API, the session is emptied."""
    refresh = session.get("rt")
    if refresh:
        try:
            gateway().call("POST", "/v1/auth/logout", session.get("at"), json={"refresh_token": refresh})
        except ApiError as exc:
            log.warning("logout answered %s", exc.code)
    session.clear()


def _refresh() -> None:
    """Rotate the tokens; concurrent requests of this session share one rotation (console/sessions.py)."""
    from flask import current_app

    used = session["rt"]
    try:
        tokens = current_app.extensions["refresh_coordinator"].refresh(
            used, lambda: gateway().call("POST", "/v1/auth/refresh", json={"refresh_token": used}))
    except ApiError as exc:
        if exc.status in (400, 401, 403, 404):
            session.clear()
            raise SignInRequired() from exc
        raise
    _store_tokens(tokens)


def access_token() -> str:
    if not signed_in():
        raise SignInRequired()
    if session.get("exp", 0) - REFRESH_MARGIN_SECONDS < time.time():
        _refresh()
    return session["at"]


def api(method: str, path: str, **kwargs):
    """A gateway call as the signed-in person; an expired access token is refreshed once."""
    token = access_token()
    try:
        return gateway().call(method, path, token, client_ip=request.remote_addr, **kwargs)
    except ApiError as exc:
        if exc.status == 401 and exc.code in ("TOKEN_EXPIRED", "TOKEN_REVOKED", "TOKEN_INVALID", "UNAUTHENTICATED"):
            try:
                _refresh()
            except SignInRequired:
                raise
            return gateway().call(method, path, session["at"], client_ip=request.remote_addr, **kwargs)
        raise


def api_raw(method: str, path: str, **kwargs):
    token = access_token()
    return gateway().raw(method, path, token, client_ip=request.remote_addr, **kwargs)


def public_api(method: str, path: str, **kwargs):
    """A gateway call that needs no sign-in (sign-in, reset, invitation pages)."""
    return gateway().call(method, path, client_ip=request.remote_addr, **kwargs)


def gateway() -> Gateway:
    from flask import current_app

    return current_app.extensions["gateway"]


# ---------------------------------------------------------------- roles


def roles() -> list[dict]:
    return (current_user() or {}).get("roles") or []


def org_id() -> str | None:
    for role in roles():
        if role.get("org_id"):
            return role["org_id"]
    return None


def is_org_admin() -> bool:
    return any(r.get("role") == "ORG_ADMIN" for r in roles())


def is_admin() -> bool:
    return any(r.get("role") in ("ORG_ADMIN", "PROGRAM_ADMIN") for r in roles())


def require(allowed=None):
    """A view for signed-in people (else sign-in, then back) for whom `allowed()` holds (else 403)."""
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not signed_in():
                raise SignInRequired()
            if allowed is not None and not allowed():
                abort(403)
            return view(*args, **kwargs)
        return wrapper
    return decorator


require_sign_in = require()
require_admin = require(is_admin)
require_org_admin = require(is_org_admin)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path of this site (never //host or a scheme): no open redirect."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def home_path() -> str:
    return url_for("admin.home") if is_admin() else url_for("learner.my_programs")


# ---------------------------------------------------------------- CSRF


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def csrf_exempt(view):
    view.csrf_exempt = True
    return view


def check_csrf(app: Flask) -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    view = app.view_functions.get(request.endpoint)
    if view is not None and getattr(view, "csrf_exempt", False):
        return
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = session.get("csrf") or ""
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(400, description="CSRF")


# ---------------------------------------------------------------- the application


def create_app(settings: ConsoleSettings | None = None) -> Flask:
    settings = settings or ConsoleSettings.from_env()
    app = Flask("console", static_folder="static", template_folder="templates")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="console_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=30 * 24 * 3600,
        MAX_CONTENT_LENGTH=21 * 1024 * 1024,  # the CSV upload: the API takes up to 20 MB
        SEND_FILE_MAX_AGE_DEFAULT=3600,
    )
    app.session_interface = EncryptedSessionInterface()  # the cookie is encrypted, not only signed
    app.extensions["gateway"] = Gateway(settings.gateway_url, settings.api_timeout)
    app.extensions["refresh_coordinator"] = RefreshCoordinator()
    app.extensions["console_settings"] = settings
    app.jinja_env.autoescape = True
    app.jinja_env.filters["options"] = options
    app.jinja_env.filters["label"] = label
    app.jinja_env.globals.update(csrf_token=csrf_token, current_user=current_user, is_admin=is_admin,
                                 is_org_admin=is_org_admin, signed_in=signed_in, CSRF_FIELD=CSRF_FIELD)

    @app.before_request
    def before():
        g.started = time.perf_counter()
        g.api_seconds = 0.0
        g.api_calls = 0
        sent = request.headers.get("X-Request-Id", "")
        g.request_id = sent if 8 <= len(sent) <= 64 and sent.replace("-", "").isalnum() else str(uuid.uuid4())
        check_csrf(app)

    @app.after_request
    def headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)  # a page may set a stricter one
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Request-Id"] = g.get("request_id", "")
        if not request.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        total = time.perf_counter() - g.get("started", time.perf_counter())
        api_seconds = g.get("api_seconds", 0.0)
        response.headers["Server-Timing"] = (f"api;dur={api_seconds * 1000:.1f};desc=\"{g.get('api_calls', 0)} "
                                             f"gateway calls\", app;dur={(total - api_seconds) * 1000:.1f}")
        endpoint = request.endpoint or "unknown"
        PAGE_SECONDS.labels(endpoint, str(response.status_code)).observe(total)
        RENDER_SECONDS.labels(endpoint).observe(max(0.0, total - api_seconds))
        return response

    @app.errorhandler(SignInRequired)
    def sign_in_again(exc):
        if request.headers.get("HX-Request"):
            response = app.response_class("", 204)
            response.headers["HX-Redirect"] = url_for("auth.sign_in", next=request.full_path.rstrip("?"))
            return response
        target = request.full_path.rstrip("?") if request.method == "GET" else referrer_path()
        return redirect(url_for("auth.sign_in") + "?" + urlencode({"next": safe_next(target)}))

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        status = exc.status if exc.status in (403, 404, 409, 410, 422, 429) else 503 if exc.status >= 500 else 400
        return render_template("error.html", title=_title_of(status), api_error=exc, status=status), status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code == 400 and exc.description == "CSRF":
            message = "This form has expired or did not come from this site. Go back, reload the page and try again."
        else:
            message = exc.description if exc.code != 500 else "Something went wrong on our side."
        return render_template("error.html", title=_title_of(exc.code), message=message, status=exc.code), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc):
        log.exception("console error")
        return render_template("error.html", title="Something went wrong", status=500,
                               message="Something went wrong on our side. Quote this reference to support: "
                                       + g.get("request_id", "")), 500

    from console.pages import BLUEPRINTS
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.jinja_env.globals["has_endpoint"] = lambda name: name in app.view_functions
    return app


def options(items, value: str = "id", label: str = "name", note: str | None = None) -> list[tuple]:
    """API objects as a form's choices: (value, label[, note]) (the `choices` macro of _forms.html)."""
    return [(i[value], i[label], i.get(note)) if note else (i[value], i[label]) for i in items]


ENUM = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")


def label(value):
    """An API enum as words (CUTTING_EDGE -> Cutting edge, ADVANCED -> Advanced); anything else, and short
    capitals that may be an acronym (AI, SQL), as is."""
    if isinstance(value, str) and ENUM.match(value) and ("_" in value or len(value) >= 5):
        return value.replace("_", " ").capitalize()
    return value


def _title_of(status: int) -> str:
    return {400: "That did not work", 403: "You do not have access to this page", 404: "Page not found",
            405: "Not allowed", 409: "That already exists", 410: "This link is no longer valid",
            413: "That file is too large", 422: "That could not be done", 429: "Too many attempts",
            503: "The platform is not answering"}.get(status, "Something went wrong")


def referrer_path() -> str:
    """Where a POST came from (same-origin Referer): the page to return to after signing in again."""
    parts = urlsplit(request.referrer or "/")
    return parts.path + ("?" + parts.query if parts.query else "")
