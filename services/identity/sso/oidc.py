"""OpenID Connect sign-in (authorization code flow with PKCE S256, state and
nonce), with authlib's OAuth 2.0 client and joserfc's JWT (authlib's JOSE
library) for the ID token.

1. `begin`: a random state and nonce and a PKCE verifier are kept (the state
   as a digest, 10 minutes, single use) and the browser is sent to the
   provider's authorization endpoint (from its discovery document).
2. `finish`: the callback's state is claimed (once), the code exchanged at the
   token endpoint with the verifier and the client secret, and the ID token's
   signature checked against the provider's JWKS and its claims: `iss` the
   connection's issuer, `aud` its client id (and `azp` when there are several
   audiences), `exp` and `iat` within the connection's clock skew, `nonce`
   the one sent. Then linking.sign_in_through decides which account it is.

Every refusal is an AppError SSO_FAILED whose details carry `reason`, and is
recorded (identity.sign_in.failed.v1, method OIDC) for the organization's audit log."""
import time
from datetime import timedelta

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    DecodeError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidTokenError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from contracts.identity import SignInMethod
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from services.identity import credentials
from services.identity.settings import settings
from services.identity.sso import linking
from services.identity.sso.errors import refused
from services.identity.sso.models import SsoConnection, SsoLogin

LOGIN_TTL = timedelta(minutes=10)
DISCOVERY_CACHE_SECONDS = 300
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
CLAIM_REASONS = {"aud": "AUDIENCE_INVALID", "iss": "ISSUER_INVALID", "nonce": "NONCE_INVALID",
                 "exp": "TOKEN_EXPIRED", "iat": "ISSUED_AT_INVALID", "nbf": "NOT_YET_VALID", "sub": "SUBJECT_MISSING",
                 "azp": "AUDIENCE_INVALID"}

_cache: dict[str, tuple[float, dict]] = {}  # url -> (fetched at, document): discovery documents and JWKS


def _get_json(url: str, reason: str, fresh: bool = False) -> dict:
    now = time.monotonic()
    cached = _cache.get(url)
    if cached and not fresh and now - cached[0] < DISCOVERY_CACHE_SECONDS:
        return cached[1]
    try:
        response = requests.get(url, timeout=settings().sso_http_timeout, allow_redirects=False,
                                headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise refused(reason, f"the identity provider did not answer as expected ({type(exc).__name__})") from None
    if not isinstance(document, dict):
        raise refused(reason, "the identity provider answered something that is not a JSON object")
    _cache[url] = (now, document)
    return document


def discovery(issuer: str) -> dict:
    """The provider's metadata (OpenID Connect Discovery 1.0), its issuer checked."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    document = _get_json(url, "DISCOVERY_FAILED")
    if document.get("issuer") != issuer:
        raise refused("ISSUER_INVALID", "the provider's discovery document names another issuer")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(document.get(key), str):
            raise refused("DISCOVERY_FAILED", f"the provider's discovery document has no {key}")
    return document


def redirect_uri() -> str:
    from services.identity.sso.config import api_public_url

    return f"{api_public_url()}/v1/sso/oidc/callback"


def _client(connection: SsoConnection, client_secret: str | None = None, method: str = "client_secret_basic"):
    scopes = ["openid", *[s for s in (connection.scopes or ["email", "profile"]) if s != "openid"]]
    return OAuth2Session(connection.client_id, client_secret, scope=" ".join(scopes), redirect_uri=redirect_uri(),
                         code_challenge_method="S256", token_endpoint_auth_method=method)


def begin(uow: UnitOfWork, connection: SsoConnection, return_to: str | None) -> str:
    """The provider's authorization URL for a new sign-in through `connection`."""
    metadata = discovery(connection.issuer)
    # The state names the connection in clear (a refusal of a forged state still reaches its
    # organization's audit log); its random part is what is checked.
    state = f"{connection.id}.{credentials.new_secret()}"
    nonce, verifier = generate_token(32), generate_token(64)
    uow.session.add(SsoLogin(connection_id=connection.id, state_hash=credentials.digest(state), nonce=nonce,
                             code_verifier=verifier, return_to=return_to, expires_at=utcnow() + LOGIN_TTL))
    url, _ = _client(connection).create_authorization_url(metadata["authorization_endpoint"], state=state,
                                                          nonce=nonce, code_verifier=verifier)
    return url


def _auth_method(metadata: dict) -> str:
    offered = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    return "client_secret_basic" if "client_secret_basic" in offered else "client_secret_post"


def verify_id_token(id_token: str, metadata: dict, connection: SsoConnection, nonce: str) -> dict:
    """The ID token's claims, once its signature and claims are right (else SSO_FAILED with the reason)."""
    def keys(fresh=False):
        try:
            return KeySet.import_key_set(_get_json(metadata["jwks_uri"], "JWKS_FAILED", fresh=fresh))
        except (JoseError, ValueError, TypeError, KeyError):
            raise refused("JWKS_FAILED", "the provider's signing keys could not be read") from None

    try:
        try:
            token = jwt.decode(id_token, keys(), algorithms=ID_TOKEN_ALGORITHMS)
        except (BadSignatureError, ValueError):  # maybe the provider rotated its keys: fetch them once more
            token = jwt.decode(id_token, keys(fresh=True), algorithms=ID_TOKEN_ALGORITHMS)
    except BadSignatureError:
        raise refused("SIGNATURE_INVALID", "the ID token's signature is not the provider's") from None
    except (DecodeError, JoseError, ValueError, TypeError):
        raise refused("TOKEN_MALFORMED", "the ID token could not be read or names no known signing key") from None
    claims = token.claims
    registry = jwt.JWTClaimsRegistry(
        leeway=connection.clock_skew_seconds,
        iss={"essential": True, "value": connection.issuer},
        aud={"essential": True, "value": connection.client_id},
        exp={"essential": True}, iat={"essential": True}, sub={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise refused("TOKEN_EXPIRED", "the ID token has expired") from None
    except (InvalidClaimError, MissingClaimError) as exc:
        claim = (getattr(exc, "claim", "") or "").split(",")[0]
        raise refused(CLAIM_REASONS.get(claim, "CLAIM_INVALID"), f"the ID token's {claim or 'claims'} claim is "
                                                                   "missing or wrong") from None
    except InvalidTokenError:
        raise refused("TOKEN_INVALID", "the ID token is not valid yet or was issued in the future") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != connection.client_id:
        raise refused("AUDIENCE_INVALID", "the ID token's authorized party is not this client")
    if claims["iat"] > time.time() + connection.clock_skew_seconds:
        raise refused("ISSUED_AT_INVALID", "the ID token was issued in the future")
    return claims


def finish(uow: UnitOfWork, connection: SsoConnection, login: SsoLogin, code: str | None,
           error: str | None) -> dict:
    """Exchange the code, check the ID token, sign the person in: (the user, the claims)."""
    if error:
        raise refused("PROVIDER_ERROR", f"the identity provider refused the sign-in ({error[:100]})")
    if not code:
        raise refused("CODE_MISSING", "the identity provider sent no authorization code")
    metadata = discovery(connection.issuer)
    from services.identity.sso import secrets

    secret = secrets.decrypt(connection.client_secret_enc) if connection.client_secret_enc else None
    client = _client(connection, secret, _auth_method(metadata))
    try:
        token = client.fetch_token(metadata["token_endpoint"], code=code, code_verifier=login.code_verifier,
                                   timeout=settings().sso_http_timeout)
    except Exception as exc:  # authlib's OAuthError, or the transport's: the exchange failed
        why = str(getattr(exc, "error", "") or type(exc).__name__)[:80]
        raise refused("CODE_EXCHANGE_FAILED", f"the identity provider did not accept the code ({why})") from None
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise refused("ID_TOKEN_MISSING", "the identity provider sent no ID token")
    claims = verify_id_token(id_token, metadata, connection, login.nonce)
    return linking.sign_in_through(uow, connection, claims, SignInMethod.OIDC)
