"""SAML 2.0 service provider, with pysaml2 (its signatures and decryption by
Debian's `xmlsec1` binary, installed by scripts/ensure-infra.sh and the image).

Each connection is its own service provider: entity id
`{API_PUBLIC_URL}/v1/sso/saml/{id}/metadata`, assertion consumer service (HTTP-POST)
`{API_PUBLIC_URL}/v1/sso/saml/{id}/acs`, and a key pair made for it (RSA 2048, the
private key encrypted like client secrets) that the IdP may encrypt assertions to.

1. `begin`: an AuthnRequest (HTTP-Redirect binding); its id and a random
   RelayState are kept (the state as a digest, 10 minutes).
2. `finish`: the response must answer that request (InResponseTo), carry a
   signed assertion (required, whether or not the response is signed; an
   encrypted assertion is decrypted with the connection's key), be within its
   validity (NotBefore / NotOnOrAfter, with the connection's clock skew), for
   this audience (AudienceRestriction: the SP entity id) and this recipient
   (Destination and SubjectConfirmationData Recipient: the ACS URL). The
   assertion id is then recorded: an assertion is accepted once (replay).
   Only then is the RelayState spent, and linking.sign_in_through decides the account."""
import base64
import functools
import hashlib
import os
import shutil
import tempfile
from datetime import UTC, datetime, timedelta

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from eventlet import tpool
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.response import IncorrectlySigned, StatusError, UnsolicitedResponse
from saml2.sigver import SignatureError
from saml2.validate import ResponseLifetimeExceed, ToEarly
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert

from contracts.errors import AppError, ErrorCode
from contracts.identity import SignInMethod
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from services.identity import credentials
from services.identity.settings import settings
from services.identity.sso import linking, secrets
from services.identity.sso.errors import refused
from services.identity.sso.models import SamlAssertionSeen, SsoConnection, SsoLogin

LOGIN_TTL = timedelta(minutes=10)
MAX_METADATA_BYTES = 256 * 1024


def xmlsec_binary() -> str:
    found = shutil.which("xmlsec1")
    if found is None:
        raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "SAML needs the xmlsec1 program on the identity host "
                                                      "(Debian package xmlsec1: scripts/ensure-infra.sh)")
    return found


# ---------------------------------------------------------------- the connection's own key pair


def new_key_pair(common_name: str) -> tuple[str, str]:
    """(PEM private key, PEM self-signed certificate, 10 years)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    now = utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def _file(content: str, suffix: str) -> str:
    """xmlsec1 reads keys from files: one per content, private to this process's user (0600)."""
    directory = os.path.join(tempfile.gettempdir(), f"learnadmin-saml-{os.getuid()}")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    path = os.path.join(directory, hashlib.sha256(content.encode()).hexdigest()[:32] + suffix)
    if not os.path.exists(path):
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(content)
        os.replace(path + ".tmp", path)
    return path


def ensure_sp_keys(connection: SsoConnection) -> None:
    if connection.sp_certificate is None:
        # RSA key generation is CPU work in C: in an OS thread, so the other green threads keep going
        key_pem, cert_pem = tpool.execute(new_key_pair, f"learnadmin SP {connection.id}")
        connection.sp_private_key_enc, connection.sp_certificate = secrets.encrypt(key_pem), cert_pem


# ---------------------------------------------------------------- configuration


def urls(connection_id: str) -> dict:
    from services.identity.sso.config import api_public_url

    base = f"{api_public_url()}/v1/sso/saml/{connection_id}"
    return {"entity_id": f"{base}/metadata", "acs_url": f"{base}/acs"}


def fetch_metadata(url: str) -> str:
    try:
        response = requests.get(url, timeout=settings().sso_http_timeout, allow_redirects=False, stream=True)
        response.raise_for_status()
        body = response.raw.read(MAX_METADATA_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise AppError(ErrorCode.INVALID_INPUT, "the IdP's metadata URL did not answer",
                       {"idp_metadata_url": [f"not reachable ({type(exc).__name__})"]}) from None
    if len(body) > MAX_METADATA_BYTES:
        raise AppError(ErrorCode.INVALID_INPUT, "the IdP's metadata is too large",
                       {"idp_metadata_url": [f"more than {MAX_METADATA_BYTES} bytes"]})
    return body.decode("utf-8", errors="replace")


def idp_entity_id(connection: SsoConnection) -> str:
    """Check the IdP's metadata (fetched now from its URL when it has one) and answer its entity id."""
    if connection.idp_metadata_url and not connection.idp_metadata_xml:
        connection.idp_metadata_xml = fetch_metadata(connection.idp_metadata_url)
    ensure_sp_keys(connection)
    try:
        client = _client(connection, check=False)
        idps = list(client.metadata.identity_providers())
    except AppError:
        raise
    except Exception:  # pysaml2's parser raises many kinds on what is not metadata
        idps = []
    if len(idps) != 1:
        raise AppError(ErrorCode.INVALID_INPUT, "the IdP metadata must describe exactly one identity provider "
                                                "with a signing certificate",
                       {"idp_metadata_xml": ["not SAML 2.0 IdP metadata (an EntityDescriptor with an "
                                             "IDPSSODescriptor)"]})
    return idps[0]


@functools.lru_cache(maxsize=64)
def _config(connection_id: str, idp_xml: str, sp_key_enc: str, sp_cert: str, skew: int, base: str):
    key_file = _file(secrets.decrypt(sp_key_enc), ".key")
    cert_file = _file(sp_cert, ".crt")
    endpoints = urls(connection_id)
    config = SPConfig()
    config.load({
        "entityid": endpoints["entity_id"],
        "xmlsec_binary": xmlsec_binary(),
        "key_file": key_file, "cert_file": cert_file,
        "encryption_keypairs": [{"key_file": key_file, "cert_file": cert_file}],
        "metadata": {"inline": [idp_xml]},
        "accepted_time_diff": skew,
        "allow_unknown_attributes": True,
        "service": {"sp": {
            "endpoints": {"assertion_consumer_service": [(endpoints["acs_url"], BINDING_HTTP_POST)]},
            "want_assertions_signed": True,           # required, even when the response is signed
            "want_response_signed": False,
            "allow_unsolicited": False,               # IdP-initiated sign-in is not supported
            "authn_requests_signed": False,
        }},
    })
    return config


def _client(connection: SsoConnection, check: bool = True):
    from services.identity.sso.config import api_public_url

    if check and not connection.idp_entity_id:
        raise refused("METADATA_INVALID", "this connection has no usable IdP metadata")
    config = _config(connection.id, connection.idp_metadata_xml or "", connection.sp_private_key_enc,
                     connection.sp_certificate, int(connection.clock_skew_seconds), api_public_url())
    return Saml2Client(config=config)


def sp_metadata(connection: SsoConnection) -> str:
    """This service provider's metadata (entity id, ACS, signing/encryption certificate) for the IdP."""
    return str(entity_descriptor(_client(connection, check=False).config))


# ---------------------------------------------------------------- signing in


def begin(uow: UnitOfWork, connection: SsoConnection, return_to: str | None) -> dict:
    client = _client(connection)
    state = f"{connection.id}.{credentials.new_secret()}"
    request_id, info = client.prepare_for_authenticate(entityid=connection.idp_entity_id, relay_state=state,
                                                       binding=BINDING_HTTP_REDIRECT)
    uow.session.add(SsoLogin(connection_id=connection.id, state_hash=credentials.digest(state), nonce=request_id,
                             code_verifier=None, return_to=return_to, expires_at=utcnow() + LOGIN_TTL))
    return {"redirect_url": dict(info["headers"])["Location"]}


def _why(exc: Exception) -> tuple[str, str]:
    text = str(exc)
    if isinstance(exc, SignatureError | IncorrectlySigned) or "ignature" in text:
        return "SIGNATURE_INVALID", "the assertion's signature is not the identity provider's"
    if isinstance(exc, ResponseLifetimeExceed):
        return "ASSERTION_EXPIRED", "the identity provider's assertion has expired"
    if isinstance(exc, ToEarly):
        return "ASSERTION_NOT_YET_VALID", "the identity provider's assertion is not valid yet (check the clocks)"
    if "AudienceRestriction" in text:
        return "AUDIENCE_INVALID", "the assertion was issued for another service provider"
    if isinstance(exc, UnsolicitedResponse):
        return "IN_RESPONSE_TO_INVALID", "the response does not answer this sign-in"
    if isinstance(exc, StatusError):
        return "PROVIDER_ERROR", "the identity provider refused the sign-in"
    if "estination" in text or "ecipient" in text or "return_addr" in text.lower():
        return "RECIPIENT_INVALID", "the response was sent to another address"
    return "RESPONSE_INVALID", "the identity provider's response could not be accepted"


def finish(uow: UnitOfWork, connection: SsoConnection, login: SsoLogin, saml_response: str) -> dict:
    client = _client(connection)
    try:
        base64.b64decode(saml_response, validate=True)
        response = client.parse_authn_request_response(saml_response, BINDING_HTTP_POST,
                                                       outstanding={login.nonce: "/"})
    except Exception as exc:  # pysaml2 raises many kinds (and plain Exception): each is a refusal
        reason, message = _why(exc)
        raise refused(reason, message) from None
    if response is None or response.assertion is None:
        raise refused("RESPONSE_INVALID", "the identity provider's response carried no assertion")
    if not _assertion_signed(response):
        raise refused("SIGNATURE_INVALID", "the assertion is not signed (signed assertions are required)")
    assertion = response.assertion
    expires = datetime.fromtimestamp(response.not_on_or_after, UTC) if response.not_on_or_after else \
        utcnow() + timedelta(hours=1)
    seen = uow.session.execute(insert(SamlAssertionSeen).values(
        connection_id=connection.id, assertion_id=str(assertion.id)[:256],
        expires_at=max(expires, utcnow()) + timedelta(seconds=connection.clock_skew_seconds))
        .on_conflict_do_nothing().returning(SamlAssertionSeen.assertion_id)).first()
    if seen is None:
        raise refused("ASSERTION_REPLAYED", "this assertion was already used")
    attributes = {k: v for k, v in (response.get_identity() or {}).items()}
    name_id = getattr(response.name_id, "text", None)
    attributes["NameID"] = name_id
    if not attributes.get("mail") and not attributes.get("email") and name_id and "@" in name_id:
        attributes.setdefault("email", name_id)
    attributes.setdefault("email", attributes.get("mail"))
    return linking.sign_in_through(uow, connection, attributes, SignInMethod.SAML)


def _assertion_signed(response) -> bool:
    """pysaml2 verifies a signature where there is one and, with want_assertions_signed, refuses an
    unsigned assertion; "required" is checked once more here, on what it accepted."""
    return bool(getattr(response.assertion, "signature", None)) or bool(getattr(response, "assertion_signed", False))


def spend_state(uow: UnitOfWork, login: SsoLogin) -> None:
    uow.session.execute(update(SsoLogin).where(SsoLogin.id == login.id).values(used_at=utcnow()))
