"""The one rule for an email domain an organization claims (single sign-on,
docs/sso.md "Verifying a domain"): the gateway's input schema, identity's
commands and the operator's command all normalise through `normalize_domain`.

A claimed domain is a host name in its ASCII lower-case form, without a
trailing dot, normalised by `contracts.fields.ascii_domain`, the function that
normalises an email address's domain too (IDNA 2008 with UTS #46 mapping,
non-transitional, the `idna` package): `BÜCHER.example` is
`xn--bcher-kva.example`, `straße.de` is `xn--strae-oqa.de` both as a claim and
in `ada@straße.de`, so a verified domain matches its people's addresses.
Refused, each with its field code: NUL and lone surrogates, control characters
and spaces, wildcards, an empty or over-long label (63) or name (253), an IP
address, a single label, an invalid A-label, and a public suffix itself
(`com`, `co.uk`, `github.io`: the Public Suffix List, from the
`publicsuffixlist` package, which ships the list; nothing is fetched)."""
import functools
import re

import idna
from marshmallow import fields

from contracts.fields import FieldCode, Problem, _refuse, ascii_domain, character_problem

MAX_DOMAIN = 253
MAX_LABEL = 63
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]")
_DOTS = re.compile("[\u3002\uff0e\uff61]")  # ideographic and full-width full stops: label separators (UTS #46)


class DomainRefused(ValueError):
    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


@functools.cache
def _suffixes():
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def _refused(code: FieldCode, message: str):
    raise DomainRefused(Problem(code, message))


def normalize_domain(value) -> str:
    """`value` as a claimable domain (ASCII, lower case), or DomainRefused."""
    if not isinstance(value, str):
        _refused(FieldCode.NOT_A_STRING, "must be a string")
    problem = character_problem(value)
    if problem:
        raise DomainRefused(problem)
    if len(value) > 4 * MAX_DOMAIN:  # before any work on it
        _refused(FieldCode.TOO_LONG, f"a domain name has at most {MAX_DOMAIN} characters")
    text = value.strip()
    if not text:
        _refused(FieldCode.BLANK, "must not be empty")
    if _SPACE_OR_CONTROL.search(text):
        _refused(FieldCode.DOMAIN_INVALID, "a domain name has no spaces or control characters")
    if "*" in text:
        _refused(FieldCode.DOMAIN_WILDCARD, "claim one domain (no wildcard): e.g. example.com")
    if "@" in text or "/" in text or ":" in text:
        _refused(FieldCode.DOMAIN_INVALID, "only the domain, e.g. example.com (not an address or a URL)")
    text = _DOTS.sub(".", text)
    if text.endswith("."):
        text = text[:-1]  # the root's dot: acme.example. is acme.example
    labels = text.split(".")
    if any(not label for label in labels):
        _refused(FieldCode.DOMAIN_INVALID, "a domain name has no empty label (two dots in a row, a leading dot)")
    if any(len(label) > MAX_LABEL for label in labels):
        _refused(FieldCode.DOMAIN_LABEL_TOO_LONG, f"each part between dots has at most {MAX_LABEL} characters")
    try:
        ascii_name = ascii_domain(text)  # exactly as an email address's domain (contracts.fields)
        idna.encode(ascii_name)  # the claim's own check: valid A-labels, no "--" in 3rd and 4th position
    except idna.IDNAError as exc:
        if "domain too long" in str(exc).lower():
            _refused(FieldCode.TOO_LONG, f"a domain name has at most {MAX_DOMAIN} characters (in its ASCII form)")
        if "too long" in str(exc).lower():
            _refused(FieldCode.DOMAIN_LABEL_TOO_LONG, f"each part between dots has at most {MAX_LABEL} characters "
                                                      "(in its ASCII form)")
        _refused(FieldCode.DOMAIN_INVALID, "not a valid domain name")
    except (UnicodeError, ValueError):
        _refused(FieldCode.DOMAIN_INVALID, "not a valid domain name")
    ascii_name = ascii_name.lower()
    labels = ascii_name.split(".")
    if len(ascii_name) > MAX_DOMAIN:
        _refused(FieldCode.TOO_LONG, f"a domain name has at most {MAX_DOMAIN} characters (in its ASCII form)")
    if any(len(label) > MAX_LABEL for label in labels):
        _refused(FieldCode.DOMAIN_LABEL_TOO_LONG, f"each part between dots has at most {MAX_LABEL} characters "
                                                  "(in its ASCII form)")
    if not all(_LABEL.match(label) for label in labels):
        _refused(FieldCode.DOMAIN_INVALID, "not a valid domain name (letters, digits and inner hyphens)")
    if labels[-1].isdigit():
        _refused(FieldCode.DOMAIN_INVALID, "an IP address is not a domain")
    if len(labels) < 2 or _suffixes().privatesuffix(ascii_name) is None:
        _refused(FieldCode.DOMAIN_PUBLIC_SUFFIX,
                 f"{ascii_name} is a public suffix, nobody's alone: claim your organization's domain under it")
    return ascii_name


def domain_problem(value) -> Problem | None:
    try:
        normalize_domain(value)
    except DomainRefused as exc:
        return exc.problem
    return None


class DomainName(fields.String):
    """A domain an organization claims, answered normalised (`normalize_domain`)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.metadata = {"maxLength": MAX_DOMAIN, "example": "acme.example", **self.metadata}

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return normalize_domain(value)
        except DomainRefused as exc:
            _refuse(exc.problem)
