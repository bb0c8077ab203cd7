"""Issue 11 item 2 through the running suite: identity signs access tokens with
its private key (EdDSA, `kid` header), the gateway verifies them with the
public keys of identity's JWKS, and no shared secret signs anything any more.

Reproduction of the finding: before, access tokens were HS256 with the shared
JWT_SECRET, which the gateway also held; a token made with that secret (in
the suite the built-in development key) was accepted as an org admin's
(`test_a_token_made_with_the_former_shared_secret_is_refused` passed the
gateway then)."""
import base64
import hashlib
import hmac
import json
import time

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from servicekit import signing
from tests.e2e.conftest import Api

FORMER_DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"  # the built-in JWT_SECRET before


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _me(api: Api, token: str) -> requests.Response:
    return Api(api.base_url, token).get("/v1/me")


def _claims(admin: Api) -> dict:
    return {**jwt.decode(admin.token, options={"verify_signature": False}), "exp": int(time.time()) + 600}


def test_tokens_are_signed_by_identitys_key_named_by_kid_and_published_as_jwks(api, make_org):
    _, admin, _ = make_org()
    header = jwt.get_unverified_header(admin.token)
    assert header["alg"] == "EdDSA" and header["kid"]
    document = api.get("/v1/.well-known/jwks.json")
    assert document.status_code == 200 and document.headers["Content-Type"].startswith("application/json")
    keys = {jwk["kid"]: jwk for jwk in document.json()["keys"]}
    assert header["kid"] in keys
    assert all(set(jwk) <= {"kty", "crv", "x", "n", "e", "kid", "alg", "use"} for jwk in keys.values()), (
        "a JWKS carries public parts only")
    public = signing.key_from_jwk(keys[header["kid"]])
    assert jwt.decode(admin.token, public, algorithms=["EdDSA"])["sub"] == admin.get("/v1/me").json()["id"]


def test_a_token_made_with_the_former_shared_secret_is_refused(api, make_org):
    _, admin, _ = make_org()
    claims = _claims(admin)
    forged = jwt.encode(claims, FORMER_DEV_SECRET, algorithm="HS256")
    response = _me(api, forged)
    assert response.status_code == 401 and response.json()["error"]["code"] == "TOKEN_INVALID"
    kid = jwt.get_unverified_header(admin.token).get("kid", "none")
    forged = jwt.encode(claims, FORMER_DEV_SECRET, algorithm="HS256", headers={"kid": kid})
    response = _me(api, forged)
    assert response.status_code == 401 and response.json()["error"]["code"] == "TOKEN_INVALID"


def test_algorithm_confusion_none_and_other_keys_are_refused(api, make_org):
    _, admin, _ = make_org()
    claims = _claims(admin)
    kid = jwt.get_unverified_header(admin.token)["kid"]
    jwk = {key["kid"]: key for key in api.get("/v1/.well-known/jwks.json").json()["keys"]}[kid]
    public = signing.key_from_jwk(jwk)
    public_pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    body = _b64(json.dumps(claims).encode())
    forgeries = []
    # HS256 keyed with the public key (PEM, raw bytes, the JWK's x as text): the classic confusion
    for secret in (public_pem, base64.urlsafe_b64decode(jwk["x"] + "=="), jwk["x"].encode()):
        head = _b64(json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode())
        mac = _b64(hmac.new(secret, head + b"." + body, hashlib.sha256).digest())
        forgeries.append(b".".join([head, body, mac]).decode())
    # alg none, with and without a signature part
    head = _b64(json.dumps({"alg": "none", "kid": kid, "typ": "JWT"}).encode())
    forgeries += [f"{head.decode()}.{body.decode()}.", f"{head.decode()}.{body.decode()}"]
    # a key of our own, claiming identity's kid, and with its own kid
    other = ed25519.Ed25519PrivateKey.generate()
    forgeries.append(jwt.encode(claims, other, algorithm="EdDSA", headers={"kid": kid}))
    forgeries.append(signing.SigningKey(other).sign(claims))
    # identity's token with its signature from another token
    forgeries.append(".".join(admin.token.split(".")[:2] + [forgeries[-1].split(".")[2]]))
    for forged in forgeries:
        response = _me(api, forged)
        assert response.status_code == 401 and response.json()["error"]["code"] == "TOKEN_INVALID", forged
    assert admin.get("/v1/me").status_code == 200
