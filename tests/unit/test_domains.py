"""A claimed email domain's one rule (contracts/domains.py, docs/sso.md
"Verifying a domain"): normalised to its IDNA lower-case form, or refused
with a stable field code."""
import pytest
from marshmallow import ValidationError

from contracts.domains import DomainRefused, normalize_domain
from contracts.fields import FieldCode, ascii_domain, normalize_email
from contracts.sso import SsoDomainInput
from services.identity.sso.dns_proof import parse_nameservers


@pytest.mark.parametrize("raw, expected", [
    ("acme.example", "acme.example"),
    ("  Acme.EXAMPLE  ", "acme.example"),
    ("acme.example.", "acme.example"),                     # the root's dot
    ("BÜCHER.example", "xn--bcher-kva.example"),           # IDNA (UTS #46 mapping, then A-labels)
    ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("ＡＣＭＥ．example", "acme.example"),                   # full-width letters and full stop
    ("eu.acme.co.uk", "eu.acme.co.uk"),                    # a subdomain of a registrable domain
    ("acme.co.uk", "acme.co.uk"),
    ("someone.github.io", "someone.github.io"),            # under a private public suffix
    ("a" * 63 + ".example", "a" * 63 + ".example"),
])
def test_a_domain_is_normalised(raw, expected):
    assert normalize_domain(raw) == expected
    assert SsoDomainInput().load({"domain": raw}) == {"domain": expected}


@pytest.mark.parametrize("raw, code", [
    ("com", FieldCode.DOMAIN_PUBLIC_SUFFIX),
    ("co.uk", FieldCode.DOMAIN_PUBLIC_SUFFIX),
    ("github.io", FieldCode.DOMAIN_PUBLIC_SUFFIX),
    ("COM.", FieldCode.DOMAIN_PUBLIC_SUFFIX),
    ("localhost", FieldCode.DOMAIN_PUBLIC_SUFFIX),         # one label
    ("*.acme.example", FieldCode.DOMAIN_WILDCARD),
    ("*", FieldCode.DOMAIN_WILDCARD),
    ("acme\x00.example", FieldCode.INVALID_CHARACTER),
    ("acme\ud800.example", FieldCode.INVALID_CHARACTER),   # a lone surrogate
    ("a" * 64 + ".example", FieldCode.DOMAIN_LABEL_TOO_LONG),
    ("ü" * 60 + ".example", FieldCode.DOMAIN_LABEL_TOO_LONG),  # 60 characters, over 63 as an A-label
    (("a" * 63 + ".") * 4 + "com", FieldCode.TOO_LONG),
    ("x" * 5000, FieldCode.TOO_LONG),
    ("", FieldCode.BLANK),
    ("   ", FieldCode.BLANK),
    ("acme .example", FieldCode.DOMAIN_INVALID),
    ("acme\n.example", FieldCode.DOMAIN_INVALID),
    ("acme..example", FieldCode.DOMAIN_INVALID),
    (".acme.example", FieldCode.DOMAIN_INVALID),
    ("-acme.example", FieldCode.DOMAIN_INVALID),
    ("acme_1.example", FieldCode.DOMAIN_INVALID),
    ("192.168.1.10", FieldCode.DOMAIN_INVALID),
    ("https://acme.example", FieldCode.DOMAIN_INVALID),
    ("admin@acme.example", FieldCode.DOMAIN_INVALID),
    ("acme.example:443", FieldCode.DOMAIN_INVALID),
    ("☃.example", FieldCode.DOMAIN_INVALID),               # not allowed in IDNA 2008
    (5, FieldCode.NOT_A_STRING),
    (None, FieldCode.NOT_A_STRING),
])
def test_a_bad_domain_is_refused_with_its_code(raw, code):
    with pytest.raises(DomainRefused) as refused:
        normalize_domain(raw)
    assert refused.value.problem.code == code, str(refused.value)
    if raw is not None:
        with pytest.raises(ValidationError) as invalid:
            SsoDomainInput().load({"domain": raw})
        assert invalid.value.messages["domain"][0].startswith(f"{code}: ")


@pytest.mark.parametrize("claimed, expected", [
    ("Acme.Example", "acme.example"),                       # upper case
    ("BÜCHER.example", "xn--bcher-kva.example"),
    ("straße.de", "xn--strae-oqa.de"),                      # deviation characters stay themselves (IDNA 2008),
    ("STRAẞE.de", "xn--strae-oqa.de"),                      # not strasse.de, another domain (IDNA 2003)
    ("strasse.de", "strasse.de"),
    ("ςοφία.example", "xn--kxae4blv.example"),               # final sigma: not σοφια (xn--kxae4bpq)
    ("Σοφία.example", "xn--kxae4bpq.example"),              # a capital maps to σ
    ("क्\u200dष.example", "xn--11b2ezcw70k.example"),        # a ZWJ after a virama is kept (CONTEXTJ)
    ("xn--strae-oqa.de", "xn--strae-oqa.de"),               # punycode input
    ("XN--Strae-OQA.DE", "xn--strae-oqa.de"),
    ("ＡＣＭＥ．example", "acme.example"),
])
def test_a_claimed_domain_matches_the_addresses_of_its_people(claimed, expected):
    """One function (contracts.fields.ascii_domain) normalises a claimed domain and an address's domain:
    linking.py compares the domain of a normalised email address with the claimed domain."""
    assert normalize_domain(claimed) == expected
    assert normalize_email(f"Ada@{claimed}") == f"ada@{expected}"
    assert ascii_domain(claimed) == expected
    assert normalize_domain(f"{claimed}.") == expected     # a trailing dot: the claim drops it


@pytest.mark.parametrize("raw, as_email", [
    ("ex\u200dample.com", "example.com"),  # a ZWJ out of place: refused as a claim, IDNA 2003's form in an address
    ("a\u200cb.example", "ab.example"),    # ZWNJ likewise
    ("☃.example", "xn--n3h.example"),       # a symbol IDNA 2008 refuses
])
def test_what_idna_2008_refuses_is_never_claimed_and_addresses_keep_their_old_form(raw, as_email):
    """So existing accounts at such domains still sign in; no claim can ever match them."""
    with pytest.raises(DomainRefused):
        normalize_domain(raw)
    assert normalize_email(f"Ada@{raw}") == f"ada@{as_email}"


def test_an_invalid_a_label_or_hyphens_are_refused_as_a_claim():
    for raw in ("xn--zz.example", "ab--cd.example"):
        with pytest.raises(DomainRefused) as refused:
            normalize_domain(raw)
        assert refused.value.problem.code == FieldCode.DOMAIN_INVALID


@pytest.mark.parametrize("raw, expected", [
    (None, []), ("", []), ("127.0.0.1:5353", [("127.0.0.1", 5353)]),
    ("10.0.0.2, [::1]:53, ::1", [("10.0.0.2", 53), ("::1", 53), ("::1", 53)]),
])
def test_name_servers_are_addresses_with_an_optional_port(raw, expected):
    assert parse_nameservers(raw) == expected


@pytest.mark.parametrize("raw", ["dns.example", "127.0.0.1:99999", "127.0.0.1:x", "[::1]x"])
def test_a_malformed_name_server_list_is_refused(raw):
    with pytest.raises(ValueError):
        parse_nameservers(raw)
