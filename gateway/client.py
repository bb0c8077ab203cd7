"""The client address of a request: what per-client limits (identity's login,
reset and sign-up throttles) count under.

It is the connecting peer's address, unless that peer is a trusted proxy
(`TRUSTED_PROXIES`: comma-separated addresses or CIDR networks, none by
default). Only then is `X-Forwarded-For` read, from the right: each proxy
appends the address it received the request from, so the right-most entry
that is not itself a trusted proxy is the client as the first trusted proxy
saw it. Entries to its left were written by the client and are never
believed: anyone can send `X-Forwarded-For: 1.2.3.4`."""
import ipaddress
from dataclasses import dataclass

from servicekit.config import ConfigError, Settings, setting

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted_proxies(raw: str) -> tuple[Network, ...]:
    """`"10.0.0.0/8, 192.0.2.7"` → the networks (a bare address is a /32 or /128)."""
    networks = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"TRUSTED_PROXIES: {item!r} is not an IP address or CIDR network") from None
    return tuple(networks)


@dataclass(frozen=True)
class GatewaySettings(Settings):
    trusted_proxies: tuple[Network, ...] = setting("TRUSTED_PROXIES", (), parse=parse_trusted_proxies)


def _address(value: str | None):
    try:
        address = ipaddress.ip_address((value or "").strip())
    except ValueError:
        return None
    # an IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d
    return getattr(address, "ipv4_mapped", None) or address


def _trusted(address, trusted: tuple[Network, ...]) -> bool:
    return any(address.version == network.version and address in network for network in trusted)


def client_address(remote_addr: str | None, forwarded_for: list[str], trusted: tuple[Network, ...]) -> str | None:
    """The client's address. `forwarded_for`: every X-Forwarded-For header
    line of the request, in order (each a comma-separated list)."""
    peer = _address(remote_addr)
    if peer is None or not _trusted(peer, trusted):
        return remote_addr
    hops = [hop.strip() for line in forwarded_for for hop in line.split(",")]
    client = peer
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:  # garbage: nothing further left can be believed
            break
        client = address
        if not _trusted(address, trusted):
            break
    return str(client)


def request_client(request, trusted: tuple[Network, ...]) -> str | None:
    """`client_address` of a werkzeug request."""
    return client_address(request.remote_addr, request.headers.getlist("X-Forwarded-For"), trusted)
