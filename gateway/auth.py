"""Who is calling, and what they may touch.

Access tokens are JWTs signed by identity with its private key (EdDSA or
RS256, the key named by the `kid` header) and verified here with public keys
only (`PublicKeys`: JWT_PUBLIC_KEYS, else identity's JWKS fetched by RPC);
a verified token is remembered until it expires. Each carries its user's token
version (`ver`): identity raises the version to revoke every access token of a
user at once (role removed, password reset, logout everywhere), and the gateway
refuses an older one with 401 TOKEN_REVOKED. The current version is asked of
identity at most once per user every TOKEN_VERSION_CACHE_SECONDS, so a revoked
token stops working within that window and a busy user costs no RPC per
request. API tokens (machine clients) are opaque; identity checks them and the
answer is cached briefly."""
import json
import time
from dataclasses import dataclass, field

import jwt

from contracts.errors import AppError, ErrorCode
from servicekit import config, signing

API_TOKEN_PREFIX = "lat_"
API_TOKEN_CACHE_SECONDS = 30.0
# How long a revoked access token may still pass (docs/operations.md, "Security").
TOKEN_VERSION_CACHE_SECONDS = 5.0
# identity's JWKS (when JWT_PUBLIC_KEYS is not set) is fetched again after this long, and at
# once (at most every JWKS_MIN_REFETCH_SECONDS) when a token names a kid not in it: a rotation.
JWKS_CACHE_SECONDS = 300.0
JWKS_MIN_REFETCH_SECONDS = 5.0


class PublicKeys:
    """kid -> public key, from JWT_PUBLIC_KEYS (static, a JWKS or PEM keys) or
    else identity's JWKS (RPC `identity.jwks`), cached; no private key, no
    shared secret."""

    def __init__(self):
        self._keys: dict = {}
        self._fetched_at = float("-inf")
        self._static: dict | None = None

    def configured(self) -> dict | None:
        if self._static is None:
            raw = config.env(signing.PUBLIC_KEYS_ENV)
            self._static = signing.parse_public_keys(raw) if raw and raw.strip() else {}
        return self._static or None

    def get(self, kid: str, identity_rpc):
        static = self.configured()
        if static is not None:
            return static.get(kid)
        now = time.monotonic()
        stale = now - self._fetched_at > JWKS_CACHE_SECONDS
        unknown = kid not in self._keys and now - self._fetched_at > JWKS_MIN_REFETCH_SECONDS
        if identity_rpc is not None and (stale or unknown):
            try:
                self._keys = signing.parse_public_keys(json.dumps(identity_rpc.jwks()))
                self._fetched_at = now
            except AppError:
                if not self._keys:
                    raise  # nothing to verify with: 503
                # identity unreachable: keep verifying with the keys we have, ask again soon
                self._fetched_at = now - JWKS_CACHE_SECONDS + JWKS_MIN_REFETCH_SECONDS
        return self._keys.get(kid)

    def document(self, identity_rpc) -> dict:
        """The JWKS the gateway verifies with (served at /v1/.well-known/jwks.json)."""
        static = self.configured()
        if static is not None:
            return signing.jwks(static.values())
        return identity_rpc.jwks()

    def reset(self) -> None:
        self.__init__()


public_keys = PublicKeys()


@dataclass(frozen=True)
class Principal:
    user_id: str | None
    email: str | None = None
    email_verified: bool = False
    roles: tuple = ()
    token_version: int = 0
    # machine clients
    api_token_id: str | None = None
    api_org_id: str | None = None
    scopes: frozenset = field(default_factory=frozenset)

    @property
    def is_machine(self) -> bool:
        return self.api_token_id is not None

    def roles_in(self, org_id: str) -> list[dict]:
        return [r for r in self.roles if r["org_id"] == str(org_id)]

    def is_org_admin(self, org_id: str) -> bool:
        return any(r["role"] == "ORG_ADMIN" for r in self.roles_in(org_id))

    def is_admin(self, org_id: str) -> bool:
        return bool(self.roles_in(org_id))

    def program_ids(self, org_id: str) -> set[str]:
        return {p for r in self.roles_in(org_id) if r["role"] == "PROGRAM_ADMIN" for p in r.get("program_ids", [])}

    def admin_orgs(self) -> list[str]:
        return sorted({r["org_id"] for r in self.roles})

    # --- checks: 404 for what is not theirs, 403 for what their role may not do ---

    def require_admin(self, org_id: str) -> None:
        if not self.is_admin(org_id):
            raise AppError(ErrorCode.NOT_FOUND, "organization not found")

    def require_org_admin(self, org_id: str) -> None:
        self.require_admin(org_id)
        if not self.is_org_admin(org_id):
            raise AppError(ErrorCode.FORBIDDEN, "only organization admins may do this")

    def can_admin_program(self, org_id: str, program_id: str) -> bool:
        return self.is_org_admin(org_id) or str(program_id) in self.program_ids(org_id)

    def require_program_admin(self, org_id: str, program_id: str, what: str = "program") -> None:
        if not self.can_admin_program(org_id, program_id):
            raise AppError(ErrorCode.NOT_FOUND, f"{what} not found")

    def require_scope(self, scope: str) -> None:
        if not self.is_machine or scope not in self.scopes:
            raise AppError(ErrorCode.INSUFFICIENT_SCOPE, f"an API token with scope {scope} is required")

    def program_scope(self, org_id: str) -> list[str] | None:
        """None: every program of the org (org admin); else the programs allowed."""
        self.require_admin(org_id)
        return None if self.is_org_admin(org_id) else sorted(self.program_ids(org_id))


def bearer_token(request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _verification_key(token: str, identity_rpc):
    """The public key the token's `kid` names, and the one algorithm that key
    signs with: a token whose `alg` differs (HS256 with a public key as its
    secret, `none`) or whose kid is unknown is TOKEN_INVALID."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise AppError(ErrorCode.TOKEN_INVALID, "the access token is not valid") from None
    kid = header.get("kid")
    key = public_keys.get(kid, identity_rpc) if isinstance(kid, str) else None
    if key is None:
        raise AppError(ErrorCode.TOKEN_INVALID, "the access token is not valid (unknown signing key)")
    expected = signing.algorithm(key)
    if header.get("alg") != expected:
        raise AppError(ErrorCode.TOKEN_INVALID, "the access token is not valid")
    return key, expected


def decode_access_token(token: str, identity_rpc=None) -> Principal:
    principal = access_token_cache.get(token)
    if principal is not None:
        return principal
    key, expected = _verification_key(token, identity_rpc)
    try:
        claims = jwt.decode(token, key, algorithms=[expected], options={"require": ["exp", "sub", "typ"]})
    except jwt.ExpiredSignatureError:
        raise AppError(ErrorCode.TOKEN_EXPIRED, "the access token has expired; refresh it") from None
    except jwt.PyJWTError:
        raise AppError(ErrorCode.TOKEN_INVALID, "the access token is not valid") from None
    if claims.get("typ") != "access":
        raise AppError(ErrorCode.TOKEN_INVALID, "not an access token")
    principal = Principal(user_id=claims["sub"], email=claims.get("email"),
                          email_verified=bool(claims.get("email_verified")), roles=tuple(claims.get("roles", [])),
                          token_version=claims.get("ver", 0) if isinstance(claims.get("ver", 0), int) else -1)
    # Checking the signature costs ~0.1 ms (PyJWT) on every request; a token
    # string already checked is the same token until its expiry.
    access_token_cache.put(token, principal, until=float(claims["exp"]))
    return principal


class TokenCache:
    """Answers for token strings already checked, each until a wall-clock deadline."""

    def __init__(self, max_entries: int = 10_000):
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, object]] = {}

    def get(self, token: str):
        entry = self._entries.get(token)
        if entry and entry[0] > time.time():
            return entry[1]
        return None

    def forget(self, matches) -> None:
        """Drop the answers `matches(value)` picks (e.g. a revoked API token's)."""
        for token in [token for token, (_, value) in self._entries.items() if matches(value)]:
            self._entries.pop(token, None)

    def put(self, token: str, value, until: float) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[token] = (until, value)


access_token_cache = TokenCache()
api_token_cache = TokenCache()
token_version_cache = TokenCache()


def require_current_version(principal: Principal, identity_rpc) -> None:
    """TOKEN_REVOKED when identity has revoked the user's tokens since this one
    was issued (or the user is gone)."""
    current = token_version_cache.get(principal.user_id)
    if current is None:
        current = identity_rpc.token_version(principal.user_id)
        current = -1 if current is None else current  # no such user: nothing passes
        token_version_cache.put(principal.user_id, current, until=time.time() + TOKEN_VERSION_CACHE_SECONDS)
    if current < 0 or principal.token_version < current:
        raise AppError(ErrorCode.TOKEN_REVOKED, "this session was signed out (role or password changed); sign in again")


def machine_principal(info: dict) -> Principal:
    """An API token reads its own organization as an org admin would, on the
    routes that name one of its scopes (gateway.http refuses it elsewhere)."""
    return Principal(user_id=None, api_token_id=info["id"], api_org_id=info["org_id"],
                     scopes=frozenset(info["scopes"]),
                     roles=({"role": "ORG_ADMIN", "org_id": info["org_id"], "program_ids": []},))


def authenticate(request, identity_rpc) -> Principal:
    token = bearer_token(request)
    if token is None:
        raise AppError(ErrorCode.UNAUTHENTICATED, "sign in: send Authorization: Bearer <token>")
    if token.startswith(API_TOKEN_PREFIX):
        info = api_token_cache.get(token)
        if info is None:
            info = identity_rpc.authenticate_api_token(token)
            api_token_cache.put(token, info, until=time.time() + API_TOKEN_CACHE_SECONDS)
        return machine_principal(info)
    principal = decode_access_token(token, identity_rpc)
    require_current_version(principal, identity_rpc)
    return principal
