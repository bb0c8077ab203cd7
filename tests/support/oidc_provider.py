"""A small but real OpenID Connect provider for the tests (docs/sso.md):
discovery, an authorization endpoint that signs in whoever the test says
(`provider.user`), a token endpoint that checks the client's secret, the
redirect URI and the PKCE verifier (S256), and ID tokens signed RS256 with a
real RSA key published at its JWKS URI. Served over real HTTP on loopback by
werkzeug, in a thread of the test process.

`provider.tamper` makes the next ID tokens wrong in one way, as an attacker or
a misconfigured provider would: "audience" (issued for another client),
"expired", "forged" (signed by another key under the same key id), "nonce"."""
import base64
import hashlib
import secrets
import threading
import time
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.support.suite import free_port


class OidcProvider:
    def __init__(self, client_id: str = "learnadmin-test", client_secret: str | None = None):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key-1", "use": "sig", "alg": "RS256"})
        self.user: dict = {"sub": "u-1", "email": "someone@example.com", "name": "Some One"}
        self.tamper: str | None = None
        self.codes: dict[str, dict] = {}
        self.token_requests: list[dict] = []
        self._server = None

    # ---- the HTTP endpoints
    def app(self, environ, start_response):
        request = Request(environ)
        handler = {"/.well-known/openid-configuration": self.discovery, "/authorize": self.authorize,
                   "/token": self.token, "/jwks": self.jwks}.get(request.path)
        response = handler(request) if handler else Response("not found", status=404)
        return response(environ, start_response)

    def discovery(self, request):
        return _json({"issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                      "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
                      "response_types_supported": ["code"], "subject_types_supported": ["public"],
                      "id_token_signing_alg_values_supported": ["RS256"],
                      "code_challenge_methods_supported": ["S256"],
                      "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]})

    def authorize(self, request):
        args = request.args
        if args.get("client_id") != self.client_id or args.get("response_type") != "code":
            return Response("unknown client or response type", status=400)
        if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
            return Response("PKCE S256 required", status=400)
        if "openid" not in args.get("scope", "").split():
            return Response("scope openid required", status=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"nonce": args.get("nonce"), "challenge": args["code_challenge"],
                            "redirect_uri": args["redirect_uri"], "user": dict(self.user)}
        target = args["redirect_uri"] + "?" + urlencode({"code": code, "state": args.get("state", "")})
        return Response(status=302, headers={"Location": target})

    def token(self, request):
        form = request.form
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if request.authorization and request.authorization.type == "basic":
            client_id, client_secret = request.authorization.username, request.authorization.password
        self.token_requests.append({"client_id": client_id, "form": dict(form)})
        if client_id != self.client_id or client_secret != self.client_secret:
            return _json({"error": "invalid_client"}, 401)
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            return _json({"error": "invalid_grant"}, 400)
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return _json({"error": "invalid_grant", "error_description": "redirect_uri"}, 400)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant["challenge"]:
            return _json({"error": "invalid_grant", "error_description": "PKCE verifier"}, 400)
        return _json({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                      "id_token": self.id_token(grant["user"], grant["nonce"])})

    def jwks(self, request):
        return _json(KeySet([self.key]).as_dict(private=False))

    # ---- ID tokens
    def id_token(self, user: dict, nonce: str | None) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "iat": now, "exp": now + 300, "nonce": nonce, **user}
        key = self.key
        if self.tamper == "audience":
            claims["aud"] = "another-client"
        elif self.tamper == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        elif self.tamper == "nonce":
            claims["nonce"] = "not-the-nonce"
        elif self.tamper == "forged":
            key = RSAKey.generate_key(2048, parameters={"kid": "test-key-1", "use": "sig", "alg": "RS256"})
        return jwt.encode({"alg": "RS256", "kid": "test-key-1"}, claims, key)

    # ---- running
    def start(self) -> "OidcProvider":
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()


def _json(body: dict, status: int = 200) -> Response:
    import json

    return Response(json.dumps(body), status=status, content_type="application/json")
