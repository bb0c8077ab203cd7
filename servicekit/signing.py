"""Asymmetric signing of access tokens (issue 11 item 2): identity signs with
its private key, the gateway verifies with public keys only.

* identity: `JWT_PRIVATE_KEY` (PEM, Ed25519 or RSA ≥ 2048 bits) signs
  (EdDSA or RS256); every token names its key in the `kid` header (the key's
  RFC 7638 thumbprint). `JWT_PUBLISHED_PUBLIC_KEYS` adds public keys to the
  JWKS identity serves: the previous key during a rotation (tokens it signed
  stay valid until they expire) or the next one (announced before it signs).
  Outside APP_ENV=development a missing, unreadable or development key stops
  identity at start; in development a fixed development key stands in.
* the gateway: `JWT_PUBLIC_KEYS` (a JWKS document, or PEM public keys one
  after the other) when set; else the JWKS that identity serves (RPC
  `identity.jwks`, also `GET /v1/.well-known/jwks.json`), cached and fetched
  again when a token names a kid it does not know. A key's type fixes its
  algorithm: an HS256 token (e.g. signed with a public key as its HMAC
  secret), an `alg: none` token or a token whose alg does not match its key
  is refused.

    python -m servicekit.signing new-key        # a new Ed25519 private key (PEM) on stdout
    python -m servicekit.signing public         # JWT_PRIVATE_KEY's public key as a JWKS (for JWT_PUBLIC_KEYS)
"""
import base64
import hashlib
import json
import re
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from servicekit.config import ConfigError, development_mode, env

PRIVATE_KEY_ENV = "JWT_PRIVATE_KEY"
PUBLISHED_KEYS_ENV = "JWT_PUBLISHED_PUBLIC_KEYS"
PUBLIC_KEYS_ENV = "JWT_PUBLIC_KEYS"
MIN_RSA_BITS = 2048
_PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.S)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def algorithm(public_key) -> str:
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RS256"
    raise ConfigError(f"unsupported signing key type {type(public_key).__name__} (use Ed25519 or RSA)")


def public_jwk(public_key) -> dict:
    """The public key as a JWK with its `kid` (RFC 7638 thumbprint), `alg` and `use`."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        members = {"crv": "Ed25519", "kty": "OKP", "x": _b64(raw)}
    elif isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        members = {"e": _b64(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")), "kty": "RSA",
                   "n": _b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"))}
    else:
        raise ConfigError(f"unsupported signing key type {type(public_key).__name__}")
    thumbprint = _b64(hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest())
    return {**members, "kid": thumbprint, "alg": algorithm(public_key), "use": "sig"}


def key_from_jwk(jwk: dict):
    if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(_unb64(jwk["x"]))
    if jwk.get("kty") == "RSA":
        return rsa.RSAPublicNumbers(int.from_bytes(_unb64(jwk["e"]), "big"),
                                    int.from_bytes(_unb64(jwk["n"]), "big")).public_key()
    raise ConfigError(f"unsupported JWK (kty {jwk.get('kty')!r}): use Ed25519 (OKP) or RSA")


def _checked(public_key):
    algorithm(public_key)
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < MIN_RSA_BITS:
        raise ConfigError(f"an RSA signing key needs at least {MIN_RSA_BITS} bits")
    return public_key


def parse_public_keys(text: str | None) -> dict:
    """kid -> public key, from a JWKS document ({"keys": [...]}), one JWK, or
    PEM public keys (or certificates' keys) one after the other."""
    text = (text or "").strip()
    if not text:
        return {}
    keys = []
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"public keys: not valid JSON ({exc})") from None
        for jwk in document.get("keys", [document]):
            keys.append(key_from_jwk(jwk))
    else:
        blocks = [match.group(0) for match in _PEM.finditer(text)]
        if not blocks:
            raise ConfigError("public keys: expected a JWKS document or PEM public keys")
        for block in blocks:
            if "PRIVATE" in block.split("-----")[1]:
                raise ConfigError("public keys: a PRIVATE key was given where only public keys belong")
            try:
                keys.append(serialization.load_pem_public_key(block.encode()))
            except ValueError as exc:
                raise ConfigError(f"public keys: unreadable PEM ({exc})") from None
    return {public_jwk(_checked(key))["kid"]: key for key in keys}


def jwks(public_keys) -> dict:
    """A JWKS document of these public keys (no duplicates)."""
    seen = {}
    for key in public_keys:
        jwk = public_jwk(key)
        seen.setdefault(jwk["kid"], jwk)
    return {"keys": list(seen.values())}


def development_private_key() -> ed25519.Ed25519PrivateKey:
    """The fixed development key (APP_ENV=development only; public by construction)."""
    return ed25519.Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(b"learnadmin development access-token signing key").digest())


def _same_key(a, b) -> bool:
    return public_jwk(a.public_key())["kid"] == public_jwk(b.public_key())["kid"]


class SigningKey:
    """identity's key: signs access tokens and names itself by `kid`."""

    def __init__(self, private_key, published=()):
        self.private_key = private_key
        self.public_key = _checked(private_key.public_key())
        self.kid = public_jwk(self.public_key)["kid"]
        self.algorithm = algorithm(self.public_key)
        self.published = tuple(published)

    def sign(self, claims: dict) -> str:
        import jwt

        return jwt.encode(claims, self.private_key, algorithm=self.algorithm, headers={"kid": self.kid})

    def jwks(self) -> dict:
        """What the gateway may verify with: this key and the published ones."""
        return jwks([self.public_key, *self.published])

    @classmethod
    def from_env(cls, environ=None) -> "SigningKey":
        """JWT_PRIVATE_KEY (+ JWT_PUBLISHED_PUBLIC_KEYS). Outside development mode
        a missing or unreadable key, or the development key, is a ConfigError."""
        get = (lambda name: environ.get(name)) if environ is not None else env
        raw = (get(PRIVATE_KEY_ENV) or "").strip()
        published = tuple(parse_public_keys(get(PUBLISHED_KEYS_ENV)).values())
        if not raw:
            if development_mode():
                return cls(development_private_key(), published)
            raise ConfigError(f"{PRIVATE_KEY_ENV} must be set (identity's PEM private key, Ed25519 or RSA: "
                              "python -m servicekit.signing new-key); APP_ENV=development uses a development key")
        try:
            private_key = serialization.load_pem_private_key(raw.replace("\\n", "\n").encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{PRIVATE_KEY_ENV} is not a readable unencrypted PEM private key ({exc})") from None
        if not isinstance(private_key, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
            raise ConfigError(f"{PRIVATE_KEY_ENV}: use an Ed25519 or RSA key")
        if not development_mode() and _same_key(private_key, development_private_key()):
            raise ConfigError(f"{PRIVATE_KEY_ENV} is the public development key: generate your own")
        return cls(private_key, published)


_signing_key: SigningKey | None = None


def signing_key() -> SigningKey:
    """identity's key, read from the environment once per process."""
    global _signing_key
    if _signing_key is None:
        _signing_key = SigningKey.from_env()
    return _signing_key


def reset() -> None:
    """Forget the cached key (tests that change the environment)."""
    global _signing_key
    _signing_key = None


def main(argv: list[str]) -> None:
    command = argv[0] if argv else ""
    if command == "new-key":
        key = ed25519.Ed25519PrivateKey.generate()
        sys.stdout.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()).decode())
    elif command == "public":
        print(json.dumps(SigningKey.from_env().jwks(), indent=2))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
