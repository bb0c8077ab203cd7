"""A SAML 2.0 identity provider for the tests, built with pysaml2 (the library
the service provider uses) and its own RSA key and certificate: it reads the
AuthnRequest the platform redirects to it, and signs real assertions (and
encrypts them to the SP's certificate when asked).

`forged()` is an IdP of the same entity id with another key (a forged
signature); `response(..., audience=...)` issues for another service
provider; `expired=True` dates the assertion an hour in the past."""
import base64
import shutil
import tempfile
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock
from urllib.parse import parse_qs, urlsplit

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import AUTHN_PASSWORD_PROTECTED, NAME_FORMAT_URI, NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server

from services.identity.sso.saml import new_key_pair


class SamlIdp:
    def __init__(self, entity_id: str = "https://idp.test.example/saml", workdir: Path | None = None):
        self.entity_id = entity_id
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="saml-idp-"))
        key_pem, cert_pem = new_key_pair("test idp")
        self.key_file, self.cert_file = self.workdir / "idp.key", self.workdir / "idp.crt"
        self.key_file.write_text(key_pem)
        self.cert_file.write_text(cert_pem)
        self.sp_metadata: str | None = None

    def _config(self, with_sp: bool) -> IdPConfig:
        config = IdPConfig()
        config.load({
            "entityid": self.entity_id,
            "xmlsec_binary": shutil.which("xmlsec1"),
            "key_file": str(self.key_file), "cert_file": str(self.cert_file),
            "metadata": {"inline": [self.sp_metadata]} if with_sp and self.sp_metadata else {},
            "service": {"idp": {
                "endpoints": {"single_sign_on_service": [(f"{self.entity_id}/sso", BINDING_HTTP_REDIRECT)]},
                "policy": {"default": {"lifetime": {"minutes": 15}, "attribute_restrictions": None,
                                       "name_form": NAME_FORMAT_URI}},
                "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
            }},
        })
        return config

    def metadata(self) -> str:
        """The IdP's metadata XML (for the connection)."""
        return str(entity_descriptor(self._config(with_sp=False)))

    def forged(self) -> "SamlIdp":
        """The same entity id, another key: its signatures are forgeries."""
        other = SamlIdp(self.entity_id)
        other.sp_metadata = self.sp_metadata
        return other

    def read_request(self, location: str) -> tuple[str, str]:
        """(AuthnRequest id, RelayState) of the redirect the platform sent the browser to."""
        query = parse_qs(urlsplit(location).query)
        server = Server(config=self._config(with_sp=True))
        request = server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        return request.message.id, query["RelayState"][0]

    def response(self, request_id: str, acs_url: str, sp_entity_id: str, email: str, attributes: dict | None = None,
                 *, audience: str | None = None, expired: bool = False, encrypt: bool = False,
                 sign_assertion: bool = True) -> str:
        """A base64 SAML Response to POST to the ACS."""
        server = Server(config=self._config(with_sp=True))
        identity = {"mail": [email], **{k: [v] for k, v in (attributes or {}).items()}}
        # expired: issued two hours ago, valid for an hour (NotBefore and NotOnOrAfter both past)
        issued, ended = (datetime.now(UTC) - timedelta(hours=h) for h in (2, 1))
        stamp = "%Y-%m-%dT%H:%M:%SZ"
        clocks = (mock.patch("saml2.assertion.in_a_while", lambda **kw: ended.strftime(stamp)),
                  mock.patch("saml2.assertion.instant", lambda *a, **kw: issued.strftime(stamp))) \
            if expired else (nullcontext(), nullcontext())
        with clocks[0], clocks[1]:
            xml = server.create_authn_response(
                identity, in_response_to=request_id, destination=acs_url, sp_entity_id=audience or sp_entity_id,
                name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=email), sign_assertion=sign_assertion,
                authn={"class_ref": AUTHN_PASSWORD_PROTECTED, "authn_auth": self.entity_id},
                sign_response=False, encrypt_assertion=encrypt,
                encrypt_cert_assertion=_sp_cert(self.sp_metadata) if encrypt else None)
        return base64.b64encode(str(xml).encode()).decode()


def _sp_cert(sp_metadata: str) -> str:
    import re

    found = re.search(r"<(?:\w+:)?X509Certificate>([^<]+)</", sp_metadata)
    return found.group(1).strip() if found else None


__all__ = ["SamlIdp", "BINDING_HTTP_POST"]
