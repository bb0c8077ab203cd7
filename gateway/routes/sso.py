"""Single sign-on (docs/sso.md): the org admins' settings (connections, email
domains, the "only SSO" policy) and the browser's way through a sign-in:

    console sign-in page --(email)--> POST /v1/auth/sso/discover --> start URLs
    GET /v1/sso/{connection_id}/start --302--> the identity provider
    GET /v1/sso/oidc/callback --302--> console /sso/complete?code=<handoff>   (or a page saying why not)
    console --POST /v1/auth/sso/exchange {code}--> the session's tokens

The callback joins the person to the connection's auto-join programs (a
license each, as any join; a refusal is named on the console's page)."""
import html
from urllib.parse import urlencode

from marshmallow import Schema, fields, validate
from werkzeug.wrappers import Response

from contracts.common import email_field
from contracts.errors import AppError, ErrorCode
from contracts.fields import Token
from contracts.identity import TokensSchema
from contracts.sso import (
    NewSsoConnectionInput,
    SsoConnectionInput,
    SsoConnectionSchema,
    SsoDomainInput,
    SsoDomainSchema,
    SsoOptionSchema,
    SsoPolicyInput,
    SsoPolicySchema,
)
from gateway.http import PUBLIC, Reply, route
from gateway.routes import Routes, require_changes
from gateway.statuses import http_status
from servicekit import config

HTML = "text/html; charset=utf-8"
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
REASON_MESSAGES = {
    "STATE_INVALID": "This sign-in link is not valid, was already used or has expired.",
    "SIGNATURE_INVALID": "Your company's identity provider answered with a signature we could not verify.",
    "AUDIENCE_INVALID": "Your company's identity provider answered for another application.",
    "TOKEN_EXPIRED": "The answer of your company's identity provider has expired.",
    "NONCE_INVALID": "The answer of your company's identity provider does not belong to this sign-in.",
    "ISSUER_INVALID": "The answer did not come from your company's identity provider.",
    "PROVIDER_ERROR": "Your company's identity provider refused the sign-in.",
}
TOO_MANY_MESSAGES = {
    "": "Too many sign-ins with a company account were started from your network.",
    "TOO_MANY_REFUSALS": "Too many sign-ins with a company account from your network were refused.",
}


class DiscoverBody(Schema):
    email = email_field(required=True)


class OptionsPage(Schema):
    items = fields.List(fields.Nested(SsoOptionSchema), required=True)


class ExchangeBody(Schema):
    code = Token(required=True, min_length=10, max_length=200)


class StartQuery(Schema):
    return_to = fields.String(load_default=None, validate=[validate.Length(max=500),
                                                           validate.Regexp(r"^/(?![/\\])[\x21-\x7e]*$")],
                              metadata={"description": "a path of the console to open once signed in"})


def _opaque(max_length=2000):
    return fields.String(load_default=None, validate=[validate.Length(max=max_length),
                                                      validate.Regexp(r"^[\x20-\x7e]*$")])


MAX_ACS_BYTES = 1024 * 1024


class AcsForm(Schema):
    """application/x-www-form-urlencoded, as the identity provider's page posts it."""
    SAMLResponse = fields.String(required=True, metadata={"description": "the base64 SAML Response"})
    RelayState = fields.String(required=True)


def read_acs_form(request) -> dict:
    if request.content_length is not None and request.content_length > MAX_ACS_BYTES:
        raise AppError(ErrorCode.PAYLOAD_TOO_LARGE, f"the body is larger than {MAX_ACS_BYTES} bytes")
    if request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise AppError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "send the SAML response as a form (HTTP-POST binding)")
    request.max_content_length = MAX_ACS_BYTES
    form = {"SAMLResponse": request.form.get("SAMLResponse", ""), "RelayState": request.form.get("RelayState", "")}
    problems = {}
    if not validate_b64(form["SAMLResponse"]):
        problems["SAMLResponse"] = ["a base64 SAML response is required"]
    if not (0 < len(form["RelayState"]) <= 300 and all(32 < ord(ch) < 127 for ch in form["RelayState"])):
        problems["RelayState"] = ["the RelayState this sign-in started with is required"]
    if problems:
        raise AppError(ErrorCode.INVALID_INPUT, "not a SAML response", problems)
    return form


def validate_b64(value: str) -> bool:
    import re

    return bool(value) and re.fullmatch(r"[A-Za-z0-9+/=\r\n]+", value) is not None


class CallbackQuery(Schema):
    state = _opaque()
    code = _opaque()
    error = _opaque(200)
    error_description = _opaque(1000)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}}
h1{{font-size:1.5rem}} .reason{{color:#555;font-size:.9rem}} a{{color:#1d4f91}}</style></head>
<body><main><h1>{title}</h1><p id="sso-message">{message}</p>
<p class="reason">Reason: <code id="sso-reason">{reason}</code> &middot; reference {request_id}</p>
<p><a href="{sign_in}">Back to sign-in</a></p></main></body></html>"""


def _wait_words(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    if minutes < 90:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = -(-minutes // 60)
    return f"{hours} hours"


def _too_many_message(exc: AppError, retry_after: int | None) -> str:
    what = TOO_MANY_MESSAGES.get(str((exc.details or {}).get("reason") or ""), TOO_MANY_MESSAGES[""])
    when = f"Try again in about {_wait_words(retry_after)}." if retry_after else "Try again later."
    return f"{what} {when} If this keeps happening, contact your administrator."


def refusal_page(exc: AppError, request_id: str) -> Response:
    """The page a browser sees when a sign-in through a connection is refused (the routes are top-level
    navigations: a JSON error would be a page of JSON). A 429 says when to try again (Retry-After too)."""
    reason = str((exc.details or {}).get("reason") or exc.code)
    retry_after = (exc.details or {}).get("retry_after_seconds")
    retry_after = int(retry_after) if isinstance(retry_after, int | float) and retry_after > 0 else None
    headers = {"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"}
    if exc.code == ErrorCode.TOO_MANY_REQUESTS:
        title, message = "Too many sign-in attempts", _too_many_message(exc, retry_after)
        headers["Retry-After"] = str(retry_after or 60)
    else:
        message = exc.message if exc.code != ErrorCode.SSO_FAILED else REASON_MESSAGES.get(reason, exc.message)
        title = "You could not be signed in" if exc.code != ErrorCode.SERVICE_UNAVAILABLE else "Sign-in is unavailable"
    body = PAGE.format(title=html.escape(title), message=html.escape(message), reason=html.escape(reason),
                       request_id=html.escape(request_id), sign_in=html.escape(f"{config.public_url()}/sign-in"))
    status = http_status(exc.code)
    return Response(body, status=status if 400 <= status < 600 else 400, content_type=HTML, headers=headers)


def wants_json(request) -> bool:
    """Only a client that names application/json in Accept (before or rather than text/html) gets the API's
    JSON error from the browser routes; a browser (text/html), no Accept or */* get the page."""
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


ANSWERS_LIMITED = ("Refused: too many refused answers from the client address (SSO_ANSWER_MAX_REFUSALS_PER_CLIENT "
                   "in 15 minutes); a page saying when to try again, with Retry-After")


class SsoRoutes(Routes):
    # ---- settings (org admins)
    @route("GET", "/v1/orgs/{org_id}/sso/connections", response=SsoConnectionSchema, many=True, tags=("sso",),
           summary="The organization's single sign-on connections (never their client secrets)")
    def list_sso_connections(self, call, org_id):
        call.principal.require_org_admin(org_id)
        return self.identity.list_sso_connections(org_id)

    def _check_auto_join(self, org_id: str, body: dict) -> None:
        for item in body.get("auto_join") or ():
            self.programs.program_with_contract(org_id, item["program_id"], item["contract_id"])

    @route("POST", "/v1/orgs/{org_id}/sso/connections", body=NewSsoConnectionInput, response=SsoConnectionSchema,
           status=201, tags=("sso",),
           summary="Add an OpenID Connect or SAML connection (answers its redirect / ACS URLs for the provider)")
    def create_sso_connection(self, call, org_id):
        call.principal.require_org_admin(org_id)
        self._check_auto_join(org_id, call.body)
        return self.identity.create_sso_connection(org_id, NewSsoConnectionInput().dump(call.body) |
                                                   _secret(call.body))

    @route("GET", "/v1/orgs/{org_id}/sso/connections/{connection_id}", response=SsoConnectionSchema, tags=("sso",),
           summary="A single sign-on connection")
    def get_sso_connection(self, call, org_id, connection_id):
        call.principal.require_org_admin(org_id)
        return self.identity.get_sso_connection(org_id, connection_id)

    @route("PATCH", "/v1/orgs/{org_id}/sso/connections/{connection_id}", body=SsoConnectionInput,
           response=SsoConnectionSchema, tags=("sso",), summary="Change a single sign-on connection")
    def update_sso_connection(self, call, org_id, connection_id):
        call.principal.require_org_admin(org_id)
        require_changes(call.body)
        self._check_auto_join(org_id, call.body)
        return self.identity.update_sso_connection(org_id, connection_id,
                                                   SsoConnectionInput().dump(call.body) | _secret(call.body))

    @route("DELETE", "/v1/orgs/{org_id}/sso/connections/{connection_id}", status=204, tags=("sso",),
           summary="Remove a single sign-on connection")
    def delete_sso_connection(self, call, org_id, connection_id):
        call.principal.require_org_admin(org_id)
        self.identity.delete_sso_connection(org_id, connection_id)
        return Reply(status=204)

    @route("GET", "/v1/orgs/{org_id}/sso/domains", response=SsoDomainSchema, many=True, tags=("sso",),
           summary="The email domains the organization claims: status, TXT record to publish, last check")
    def list_sso_domains(self, call, org_id):
        call.principal.require_org_admin(org_id)
        return self.identity.list_sso_domains(org_id)

    @route("POST", "/v1/orgs/{org_id}/sso/domains", body=SsoDomainInput, response=SsoDomainSchema, status=201,
           tags=("sso",), errors=("CONFLICT", "DOMAIN_TAKEN"),
           summary="Claim an email domain: answers the TXT record that proves it (docs/sso.md)")
    def add_sso_domain(self, call, org_id):
        call.principal.require_org_admin(org_id)
        return self.identity.add_sso_domain(org_id, call.body["domain"])

    @route("GET", "/v1/orgs/{org_id}/sso/domains/{domain_id}", response=SsoDomainSchema, tags=("sso",),
           summary="A claimed domain: its status and the TXT record (name, value) to publish")
    def get_sso_domain(self, call, org_id, domain_id):
        call.principal.require_org_admin(org_id)
        return self.identity.get_sso_domain(org_id, domain_id)

    @route("POST", "/v1/orgs/{org_id}/sso/domains/{domain_id}/check", response=SsoDomainSchema, tags=("sso",),
           errors=("DOMAIN_TAKEN", "TOO_MANY_REQUESTS"),
           summary="Check now: look the TXT record up; verified when it holds the value (last_check says why not)")
    def check_sso_domain(self, call, org_id, domain_id):
        call.principal.require_org_admin(org_id)
        return self.identity.check_sso_domain(org_id, domain_id)

    @route("DELETE", "/v1/orgs/{org_id}/sso/domains/{domain_id}", status=204, tags=("sso",),
           summary="Give up an email domain")
    def delete_sso_domain(self, call, org_id, domain_id):
        call.principal.require_org_admin(org_id)
        self.identity.delete_sso_domain(org_id, domain_id)
        return Reply(status=204)

    @route("GET", "/v1/orgs/{org_id}/sso/policy", response=SsoPolicySchema, tags=("sso",),
           summary="Whether addresses in the verified domains must sign in with single sign-on")
    def get_sso_policy(self, call, org_id):
        call.principal.require_org_admin(org_id)
        return self.identity.get_sso_policy(org_id)

    @route("PUT", "/v1/orgs/{org_id}/sso/policy", body=SsoPolicyInput, response=SsoPolicySchema, tags=("sso",),
           summary="Require single sign-on for addresses in the verified domains (org admins keep their password)")
    def set_sso_policy(self, call, org_id):
        call.principal.require_org_admin(org_id)
        return self.identity.set_sso_policy(org_id, call.body["only_sso"])

    # ---- signing in (browsers, the console)
    @route("POST", "/v1/auth/sso/discover", auth=PUBLIC, body=DiscoverBody, response=OptionsPage, tags=("auth",),
           summary="The company-account sign-ins of an email address (its verified domain's connections)")
    def discover_sso(self, call):
        return {"items": self.identity.sso_options(call.body["email"])}

    @route("GET", "/v1/sso/{connection_id}/start", auth=PUBLIC, query=StartQuery, status=302, tags=("auth",),
           errors=("TOO_MANY_REQUESTS",),
           responses={429: ("Over the limit: a page saying when to try again (text/html, Retry-After); the JSON "
                            "error (TOO_MANY_REQUESTS) to a client whose Accept prefers application/json",
                            "text/html", None)},
           summary="Start a sign-in through a connection: redirects to the identity provider (limited per client "
                   "address: SSO_START_MAX_PER_CLIENT in 15 minutes, then 429 with Retry-After)")
    def start_sso(self, call, connection_id):
        """A top-level navigation (the sign-in page's link): refusals are pages, except an unknown connection
        (404 JSON, as before) and, for a client that asks for JSON, the 429."""
        try:
            # identity limits starts per client: the connecting address, or X-Forwarded-For from trusted proxies
            started = self.identity.begin_sso(connection_id, call.query.get("return_to"), client=call.client)
        except AppError as exc:
            if exc.code == ErrorCode.NOT_FOUND or (exc.code == ErrorCode.TOO_MANY_REQUESTS
                                                   and wants_json(call.request)):
                raise
            return refusal_page(exc, call.request_id)
        return Response(status=302, headers={"Location": started["redirect_url"], "Cache-Control": "no-store"})

    @route("GET", "/v1/sso/oidc/callback", auth=PUBLIC, query=CallbackQuery, status=302, tags=("auth",),
           content_type="text/html",
           responses={401: ("Refused: a page saying why (state, signature, audience, expiry, ...)", "text/html", None),
                      403: ("Refused: the address is not this organization's to sign in", "text/html", None),
                      429: (ANSWERS_LIMITED, "text/html", None)},
           summary="OpenID Connect redirect URI: checks the answer, then redirects to the console with a one-time "
                   "code")
    def oidc_callback(self, call):
        q = call.query
        try:
            done = self.identity.finish_oidc(q.get("state"), q.get("code"),
                                             q.get("error") and f"{q['error']}: {q.get('error_description') or ''}",
                                             client=call.client)
        except AppError as exc:
            return refusal_page(exc, call.request_id)
        return self._signed_in(done)

    def _signed_in(self, done: dict) -> Response:
        refused = self._auto_join(done)
        params = [("code", done["handoff_code"])]
        if done.get("return_to"):
            params.append(("next", done["return_to"]))
        params += [("refused", item) for item in refused]
        location = f"{config.public_url()}/sso/complete?{urlencode(params)}"
        return Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})

    def _auto_join(self, done: dict) -> list[str]:
        """Join the connection's programs (a license each); "CODE:program name" for each refusal."""
        refused = []
        for item in done.get("auto_join") or ():
            try:
                if self.programs.membership_state(item["program_id"], done["user_id"]) == "MEMBER":
                    continue
                self.programs.join_program(done["org_id"], item["program_id"], done["user_id"], item["contract_id"],
                                           None, done["email"], done["full_name"])
            except AppError as exc:
                try:
                    name = self.programs.get_program(done["org_id"], item["program_id"])["name"]
                except AppError:
                    name = "a program"
                refused.append(f"{exc.code}:{name}"[:200])
        return refused

    @route("GET", "/v1/sso/saml/{connection_id}/metadata", auth=PUBLIC, tags=("auth",),
           content_type="application/samlmetadata+xml",
           summary="SAML: this service provider's metadata for the connection (entity id, ACS URL, certificate)")
    def saml_metadata(self, call, connection_id):
        xml = self.identity.saml_metadata(connection_id)
        return Response(xml, content_type="application/samlmetadata+xml; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})

    @route("POST", "/v1/sso/saml/{connection_id}/acs", auth=PUBLIC, upload=AcsForm, status=302, tags=("auth",),
           content_type="text/html", max_bytes=MAX_ACS_BYTES,
           responses={401: ("Refused: a page saying why (signature, replay, audience, expiry, ...)", "text/html",
                            None),
                      403: ("Refused: the address is not this organization's to sign in", "text/html", None),
                      429: (ANSWERS_LIMITED, "text/html", None)},
           summary="SAML assertion consumer service (HTTP-POST binding): checks the response, then redirects to "
                   "the console with a one-time code")
    def saml_acs(self, call, connection_id):
        form = read_acs_form(call.request)
        try:
            done = self.identity.finish_saml(connection_id, form.get("RelayState"), form.get("SAMLResponse"),
                                             client=call.client)
        except AppError as exc:
            if exc.code == ErrorCode.NOT_FOUND:
                raise
            return refusal_page(exc, call.request_id)
        return self._signed_in(done)

    @route("POST", "/v1/auth/sso/exchange", auth=PUBLIC, body=ExchangeBody, response=TokensSchema, tags=("auth",),
           errors=("TOKEN_INVALID",),
           summary="Exchange the one-time code of a single sign-on for the session's tokens (the console)")
    def exchange_sso(self, call):
        return self.identity.redeem_sso_handoff(call.body["code"])


def _secret(body: dict) -> dict:
    """The write-only client secret (dump leaves load_only fields out)."""
    return {"client_secret": body["client_secret"]} if body.get("client_secret") else {}
