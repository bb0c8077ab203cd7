"""Self-service proof of an email domain (docs/sso.md, "Verifying a domain"):
the organization publishes a TXT record with its domain's random value, and
"check now" looks it up with dnspython.

Where: `_learnadmin-verification.<domain>` (contracts.sso.TXT_RECORD_LABEL),
or the domain itself (what Google Workspace asks for; some DNS hosts make
underscore names awkward). Which name servers: SSO_DNS_NAMESERVERS
(`host[:port]`, comma separated; default the system's resolver,
/etc/resolv.conf), each lookup bounded by SSO_DNS_TIMEOUT_SECONDS. Nothing is
cached here: a check sees what the name servers answer now.

Under eventlet (identity runs under nameko, monkey-patched by servicekit.green
before dnspython is imported) dnspython's synchronous resolver cooperates: it
makes its sockets with `socket.socket` and waits on them with
`selectors.DefaultSelector`, both looked up at call time and both green once
patched. So a slow name server stalls only the worker that asked
(services/identity/tests/test_sso_domains.py measures it: five lookups each
answered after 0.5 s take about 0.5 s together, not 2.5 s)."""
import ipaddress
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from contracts.sso import TXT_RECORD_LABEL, TXT_VALUE_PREFIX, DomainCheck

MAX_STRINGS = 50  # TXT records read at one name (more is someone else's problem, not a proof)


def parse_nameservers(raw: str | None) -> list[tuple[str, int]]:
    """"127.0.0.1:5353, [::1]:53, 10.0.0.2" -> [(address, port)]; empty: the system's resolver.
    A value that is not an IP address (with an optional port) is a ValueError (stops the start)."""
    servers = []
    for item in (raw or "").split(","):
        item = item.strip()
        if not item:
            continue
        host, port = item, 53
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"SSO_DNS_NAMESERVERS: {item!r} is not [address]:port")
                port = int(rest[1:])
        elif item.count(":") == 1:
            host, _, port_text = item.partition(":")
            port = int(port_text)
        ipaddress.ip_address(host)  # ValueError for a host name: name servers are addresses
        if not 0 < port < 65536:
            raise ValueError(f"SSO_DNS_NAMESERVERS: port of {item!r} out of range")
        servers.append((host, port))
    return servers


def record_name(domain: str) -> str:
    return f"{TXT_RECORD_LABEL}.{domain}"


def record_value(challenge: str) -> str:
    return TXT_VALUE_PREFIX + challenge


@dataclass(frozen=True)
class Lookup:
    """The TXT strings found at one name, or why none could be read."""
    texts: tuple[str, ...] = ()
    unreachable: str | None = None  # what went wrong, when no name server answered


def _resolver(nameservers: list[tuple[str, int]], timeout: float) -> dns.resolver.Resolver:
    if nameservers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in nameservers]
    else:
        resolver = dns.resolver.Resolver()  # /etc/resolv.conf
    resolver.timeout = resolver.lifetime = timeout
    resolver.cache = None
    return resolver


def lookup_txt(name: str, nameservers: list[tuple[str, int]], timeout: float) -> Lookup:
    """The TXT strings at `name` (each record's strings joined, as RFC 7208 reads them); never raises."""
    try:
        qname = dns.name.from_text(name)
        answer = _resolver(nameservers, timeout).resolve(qname, dns.rdatatype.TXT, search=False,
                                                         raise_on_no_answer=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.name.NameTooLong, dns.name.LabelTooLong):
        return Lookup()
    except dns.resolver.LifetimeTimeout:
        return Lookup(unreachable="no name server answered in time")
    except dns.resolver.NoNameservers:
        return Lookup(unreachable="the name servers could not answer (SERVFAIL or refused)")
    except dns.resolver.NoResolverConfiguration:
        return Lookup(unreachable="no name server is configured")
    except (dns.exception.DNSException, OSError, ValueError) as exc:
        return Lookup(unreachable=f"the lookup failed ({type(exc).__name__})")
    texts = []
    for rdata in list(answer.rrset or [])[:MAX_STRINGS]:
        texts.append(b"".join(rdata.strings).decode("utf-8", errors="replace").strip())
    return Lookup(texts=tuple(texts))


@dataclass(frozen=True)
class Outcome:
    result: DomainCheck
    message: str


def check(domain: str, challenge: str, nameservers: list[tuple[str, int]], timeout: float) -> Outcome:
    """Whether the domain's DNS holds its value, at the record's name or at the domain."""
    expected = record_value(challenge)
    names = (record_name(domain), domain)
    lookups = {}
    for name in names:  # one after the other: at most 2 x the timeout, under the gateway's RPC deadline (10 s)
        lookups[name] = found = lookup_txt(name, nameservers, timeout)
        if expected in found.texts:
            return Outcome(DomainCheck.VERIFIED, f"the TXT record at {name} holds the value")
    ours = [t for name, found in lookups.items() for t in found.texts
            if name == names[0] or t.startswith(TXT_VALUE_PREFIX)]
    if ours:
        return Outcome(DomainCheck.VALUE_MISMATCH,
                       f"a TXT record was found at {names[0]}, but not with this value: copy the value again")
    unreachable = [found.unreachable for found in lookups.values() if found.unreachable]
    if unreachable:
        return Outcome(DomainCheck.DNS_UNREACHABLE, f"DNS could not be reached: {unreachable[0]}. Try again later.")
    return Outcome(DomainCheck.NOT_FOUND, f"no TXT record with the value at {names[0]} yet (a new record can take "
                                          "a few minutes to an hour to be visible)")
