"""Single sign-on rules that need neither broker nor database (docs/sso.md): the
attribute mapping, the email check, what a SAML refusal is called, and the
client-secret encryption."""
import uuid

import pytest

from contracts.sso import NewSsoConnectionInput, SsoConnectionInput
from services.identity.sso import linking, saml, secrets
from services.identity.sso.models import SsoConnection


def connection(kind="OIDC", mapping=None) -> SsoConnection:
    return SsoConnection(id=str(uuid.uuid4()), org_id=str(uuid.uuid4()), kind=kind, name="x",
                         attribute_mapping=mapping or {}, auto_join=[], clock_skew_seconds=120)


def test_mapping_merges_over_the_default_and_cleans_values():
    c = connection(mapping={"job_title": "title", "location_city": "l", "business_unit": "groups"})
    found = linking.mapped(c, {"sub": "u-1", "email": " Ada@Acme.Example ", "name": "Ada\n Lovelace",
                               "title": "x" * 500, "l": ["Paris", "Lyon"], "groups": {"not": "text"}})
    assert found["external_id"] == "u-1" and found["full_name"] == "Ada Lovelace"
    assert found["job_title"] == "x" * 200          # one line, at most 200 characters
    assert found["location_city"] == "Paris"        # a list: its first value
    assert "business_unit" not in found             # an object is not text


def test_saml_default_mapping_takes_the_name_id_as_external_id():
    found = linking.mapped(connection("SAML"), {"email": "a@b.example", "NameID": "a@b.example",
                                                "displayName": "A B"})
    assert found == {"email": "a@b.example", "external_id": "a@b.example", "full_name": "A B"}


@pytest.mark.parametrize("raw, expected", [("Ada@Acme.Example", "ada@acme.example"), ("no-at-sign", None),
                                           ("a@nodot", None), ("a\x00@b.example", None), ("", None), (None, None),
                                           ("a" * 300 + "@b.example", None)])
def test_only_a_usable_email_address_signs_in(raw, expected):
    assert linking._valid_email(raw) == expected


def test_a_connection_needs_what_its_kind_needs():
    with pytest.raises(Exception) as missing:
        NewSsoConnectionInput().load({"kind": "OIDC", "name": "Okta"})
    assert {"issuer", "client_id", "client_secret"} <= set(missing.value.messages)
    with pytest.raises(Exception) as no_metadata:
        NewSsoConnectionInput().load({"kind": "SAML", "name": "ADFS"})
    assert "idp_metadata_xml" in no_metadata.value.messages
    with pytest.raises(Exception) as unknown:
        SsoConnectionInput().load({"attribute_mapping": {"salary": "pay"}})
    assert "attribute_mapping" in unknown.value.messages


def test_client_secrets_are_encrypted_not_stored():
    token = secrets.encrypt("the client secret")
    assert "the client secret" not in token and secrets.decrypt(token) == "the client secret"
    assert secrets.encrypt("the client secret") != token  # a fresh IV each time


def test_saml_refusals_are_named():
    from saml2.response import UnsolicitedResponse
    from saml2.sigver import SignatureError
    from saml2.validate import ResponseLifetimeExceed

    assert saml._why(SignatureError("Failed to verify signature"))[0] == "SIGNATURE_INVALID"
    assert saml._why(ResponseLifetimeExceed("too old"))[0] == "ASSERTION_EXPIRED"
    assert saml._why(Exception("AudienceRestrictions conditions not satisfied!"))[0] == "AUDIENCE_INVALID"
    assert saml._why(UnsolicitedResponse("unsolicited"))[0] == "IN_RESPONSE_TO_INVALID"
    assert saml._why(ValueError("anything else"))[0] == "RESPONSE_INVALID"
