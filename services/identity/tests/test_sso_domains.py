"""Self-service domain verification (docs/sso.md, "Verifying a domain"),
through identity's RPCs against a real DNS server on loopback
(tests/support/dns_server.py): claim, the TXT record to publish, "check now"
before and after it is published, one organization per domain, and DNS
lookups that never stall the process's other green threads."""
import time
import uuid

import eventlet
import pytest
from nameko.exceptions import RemoteError

from contracts.errors import AppError
from services.identity.settings import settings
from services.identity.sso import dns_proof
from services.identity.tests.conftest import new_org
from tests.support.dns_server import DnsServer


@pytest.fixture
def dns(monkeypatch):
    server = DnsServer().start()
    monkeypatch.setenv("SSO_DNS_NAMESERVERS", server.address)
    monkeypatch.setenv("SSO_DNS_TIMEOUT_SECONDS", "1")
    settings.cache_clear()
    yield server
    server.stop()
    monkeypatch.undo()
    settings.cache_clear()


def domain_name() -> str:
    return f"acme-{uuid.uuid4().hex[:8]}.example"


def code_of(call) -> str:
    try:
        call()
    except (AppError, RemoteError) as exc:
        return getattr(exc, "code", None) or exc.exc_type
    return "OK"


def test_dns_lookups_do_not_stall_other_green_threads(dns):
    """dnspython under eventlet's monkey-patching (servicekit.green): its sockets and
    selectors are green, so five lookups answered after 0.5 s each overlap."""
    dns.publish("_learnadmin-verification.slow.example", "learnadmin-domain-verification=x")
    dns.delay = 0.5
    servers = dns_proof.parse_nameservers(dns.address)
    ticks = []

    def ticker():
        while len(ticks) < 10:
            ticks.append(time.monotonic())
            eventlet.sleep(0.05)

    eventlet.spawn(ticker)
    started = time.monotonic()
    pool = eventlet.GreenPool()
    found = list(pool.imap(lambda _: dns_proof.lookup_txt("_learnadmin-verification.slow.example", servers, 3),
                           range(5)))
    took = time.monotonic() - started
    assert all(f.texts == ("learnadmin-domain-verification=x",) for f in found)
    assert took < 1.5, f"five 0.5 s lookups took {took:.2f} s: they ran one after the other"
    assert len(ticks) >= 8, "another green thread did not run during the lookups"


def test_identity_answers_while_a_check_waits_for_dns(dns, identity):
    org_id = new_org(identity)
    claimed = identity.add_sso_domain(org_id, domain_name())
    dns.delay = 0.8  # both names are looked up: 1.6 s
    pending = identity.check_sso_domain.call_async(org_id, claimed["id"])
    time.sleep(0.2)
    started = time.monotonic()
    assert identity.list_sso_domains(org_id)[0]["id"] == claimed["id"]
    assert time.monotonic() - started < 0.6, "identity stalled while a domain check waited for DNS"
    assert pending.result()["last_check"] == "NOT_FOUND"


def test_claim_publish_check_verify(dns, identity, identity_db):
    from servicekit.standalone import unit_of_work
    from services.identity.sso.linking import verified_domain

    org_id, domain = new_org(identity), domain_name()
    claimed = identity.add_sso_domain(org_id, domain.upper() + ".")
    assert claimed["domain"] == domain and claimed["status"] == "PENDING" and claimed["verified"] is False
    record = claimed["verification"]
    assert record["type"] == "TXT" and record["name"] == f"_learnadmin-verification.{domain}"
    assert record["value"].startswith("learnadmin-domain-verification=") and len(record["value"]) > 60
    assert identity.get_sso_domain(org_id, claimed["id"])["verification"] == record

    checked = identity.check_sso_domain(org_id, claimed["id"])
    assert (checked["status"], checked["last_check"]) == ("PENDING", "NOT_FOUND")
    assert checked["last_checked_at"] and "_learnadmin-verification" in checked["last_check_message"]

    dns.publish(record["name"], "learnadmin-domain-verification=someone-elses-value")
    assert identity.check_sso_domain(org_id, claimed["id"])["last_check"] == "VALUE_MISMATCH"

    dns.servfail = True
    unreachable = identity.check_sso_domain(org_id, claimed["id"])
    assert (unreachable["status"], unreachable["last_check"]) == ("PENDING", "DNS_UNREACHABLE")
    dns.servfail = False

    dns.publish(record["name"], record["value"])
    verified = identity.check_sso_domain(org_id, claimed["id"])
    assert (verified["status"], verified["verified"], verified["proof"]) == ("VERIFIED", True, "DNS_TXT")
    assert verified["verified_at"] and verified["last_check"] == "VERIFIED"
    with unit_of_work("identity") as uow:
        assert verified_domain(uow, org_id, f"ada@{domain}")
    # checking again changes nothing
    assert identity.check_sso_domain(org_id, claimed["id"])["verified_at"] == verified["verified_at"]


def test_the_record_at_the_domain_itself_is_accepted(dns, identity):
    org_id, domain = new_org(identity), domain_name()
    claimed = identity.add_sso_domain(org_id, domain)
    dns.publish(domain, "v=spf1 -all", claimed["verification"]["value"])
    assert identity.check_sso_domain(org_id, claimed["id"])["status"] == "VERIFIED"


def test_values_are_random_per_organization_and_domain(identity):
    domain = domain_name()
    values = {identity.add_sso_domain(new_org(identity), domain)["verification"]["value"] for _ in range(3)}
    values.add(identity.add_sso_domain(new_org(identity), domain_name())["verification"]["value"])
    assert len(values) == 4


def test_a_domain_is_one_organizations(dns, identity):
    domain = domain_name()
    acme, globex, initech = new_org(identity), new_org(identity), new_org(identity)
    acme_claim = identity.add_sso_domain(acme, domain)
    globex_claim = identity.add_sso_domain(globex, domain)  # both pending: both may claim
    dns.publish(f"_learnadmin-verification.{domain}", acme_claim["verification"]["value"],
                globex_claim["verification"]["value"])
    assert identity.check_sso_domain(acme, acme_claim["id"])["status"] == "VERIFIED"
    # the other organization's proof is there too, but the domain is taken; which organization is never said
    refusal = pytest.raises(AppError, identity.check_sso_domain, globex, globex_claim["id"])
    assert refusal.value.code == "DOMAIN_TAKEN" and acme not in str(refusal.value.to_dict())
    assert identity.get_sso_domain(globex, globex_claim["id"])["status"] == "PENDING"
    assert pytest.raises(AppError, identity.add_sso_domain, initech, domain).value.code == "DOMAIN_TAKEN"
    # another organization's domain is not found from here
    assert pytest.raises(AppError, identity.get_sso_domain, globex, acme_claim["id"]).value.code == "NOT_FOUND"
    assert pytest.raises(AppError, identity.check_sso_domain, globex, acme_claim["id"]).value.code == "NOT_FOUND"
    assert pytest.raises(AppError, identity.delete_sso_domain, globex, acme_claim["id"]).value.code == "NOT_FOUND"
    # given up, it can be proven by another
    identity.delete_sso_domain(acme, acme_claim["id"])
    assert identity.check_sso_domain(globex, globex_claim["id"])["status"] == "VERIFIED"


def test_the_operators_command_is_a_proof_too(identity):
    from servicekit.standalone import unit_of_work
    from services.identity.sso.config import verify_domain

    org_id, domain = new_org(identity), domain_name()
    with unit_of_work("identity") as uow:
        verify_domain(uow, org_id, domain.upper())
    shown = identity.list_sso_domains(org_id)
    assert [(d["domain"], d["status"], d["proof"], d["verified_by"]) for d in shown] == \
        [(domain, "VERIFIED", "ADMIN", None)]


@pytest.mark.parametrize("bad", ["com", "*.acme.example", "acme\x00.example", "a" * 64 + ".example", "co.uk"])
def test_identity_refuses_what_is_not_a_claimable_domain(identity, bad):
    refusal = pytest.raises(AppError, identity.add_sso_domain, new_org(identity), bad).value
    assert refusal.code == "INVALID_INPUT" and refusal.details["domain"][0].split(":")[0].isupper()


def test_two_organizations_checking_one_domain_at_once_get_one_verification(dns, identity):
    """Both proofs are published and both checks run at once (the lookups overlap): the claims of
    the domain are locked in one order, so exactly one organization gets it, the other DOMAIN_TAKEN."""
    domain = domain_name()
    claims = [(org, identity.add_sso_domain(org, domain)) for org in (new_org(identity), new_org(identity))]
    dns.publish(f"_learnadmin-verification.{domain}", *[claim["verification"]["value"] for _, claim in claims])
    dns.delay = 0.3
    pending = [identity.check_sso_domain.call_async(org, claim["id"]) for org, claim in claims]
    outcomes = []
    for call in pending:
        try:
            outcomes.append(call.result()["status"])
        except AppError as exc:
            outcomes.append(exc.code)
    assert sorted(outcomes) == ["DOMAIN_TAKEN", "VERIFIED"], outcomes
    verified = [identity.get_sso_domain(org, claim["id"])["verified"] for org, claim in claims]
    assert sorted(verified) == [False, True]


def test_checks_are_limited_per_organization(dns, identity, monkeypatch):
    monkeypatch.setenv("SSO_DOMAIN_CHECKS_PER_ORG", "2")
    settings.cache_clear()
    org_id, other_org = new_org(identity), new_org(identity)
    claimed = identity.add_sso_domain(org_id, domain_name())
    for _ in range(2):
        assert identity.check_sso_domain(org_id, claimed["id"])["last_check"] == "NOT_FOUND"
    refusal = pytest.raises(AppError, identity.check_sso_domain, org_id, claimed["id"]).value
    assert refusal.code == "TOO_MANY_REQUESTS" and refusal.details["retry_after_seconds"] > 0
    assert "organization" in refusal.message
    # another organization's checks are its own
    other = identity.add_sso_domain(other_org, domain_name())
    assert identity.check_sso_domain(other_org, other["id"])["last_check"] == "NOT_FOUND"


def test_a_verified_internationalized_domain_matches_its_peoples_addresses(identity):
    """The claim and the address normalise their domain by one function (contracts.fields.ascii_domain,
    IDNA 2008): a verified `straße-….example` offers its connection to `Ada@STRAẞE-….example`."""
    from servicekit.standalone import unit_of_work
    from services.identity.sso.config import verify_domain

    org_id, label = new_org(identity), uuid.uuid4().hex[:8]
    with unit_of_work("identity") as uow:
        verify_domain(uow, org_id, f"straße-{label}.example")
    (shown,) = identity.list_sso_domains(org_id)
    assert shown["domain"].startswith("xn--strae-") and shown["status"] == "VERIFIED"  # not strasse-…
    connection = identity.create_sso_connection(org_id, {
        "kind": "OIDC", "name": "Okta", "issuer": "https://idp.example", "client_id": "c",
        "client_secret": "the client secret"})
    identity.update_sso_connection(org_id, connection["id"], {"enabled": True})
    for typed in (f"Ada@STRAẞE-{label}.example", f"ada@straße-{label}.example", f"ada@{shown['domain']}"):
        assert [o["connection_id"] for o in identity.sso_options(typed)] == [connection["id"]], typed
