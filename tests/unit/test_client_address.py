"""gateway.client: X-Forwarded-For is believed only from trusted proxies, and
then only up to the right-most address that is not a trusted proxy."""
import pytest

from gateway.client import GatewaySettings, client_address, parse_trusted_proxies
from servicekit.config import ConfigError

TRUSTED = parse_trusted_proxies("10.0.0.0/8, 192.0.2.7, fd00::/8")


def test_no_trusted_proxies_by_default_so_the_peer_is_the_client():
    assert GatewaySettings.from_env({}).trusted_proxies == ()
    assert client_address("10.1.1.1", ["203.0.113.5"], ()) == "10.1.1.1"


def test_an_untrusted_peers_forwarded_for_is_ignored():
    assert client_address("198.51.100.9", ["203.0.113.5"], TRUSTED) == "198.51.100.9"
    assert client_address("198.51.100.9", [], TRUSTED) == "198.51.100.9"


@pytest.mark.parametrize(("forwarded", "client"), [
    (["203.0.113.5"], "203.0.113.5"),
    (["1.2.3.4, 203.0.113.5"], "203.0.113.5"),  # the left part is the client's own say
    (["1.2.3.4, 203.0.113.5, 10.2.2.2"], "203.0.113.5"),  # through two trusted proxies
    (["1.2.3.4", "203.0.113.5, 192.0.2.7"], "203.0.113.5"),  # several header lines, in order
    (["garbage, 203.0.113.5"], "203.0.113.5"),
    (["203.0.113.5, garbage"], "10.1.1.1"),  # nothing past garbage is believed
    (["10.3.3.3, 10.4.4.4"], "10.3.3.3"),  # all trusted: the farthest
    ([], "10.1.1.1"),
])
def test_a_trusted_proxys_forwarded_for_names_the_right_most_untrusted_address(forwarded, client):
    assert client_address("10.1.1.1", forwarded, TRUSTED) == client


def test_ipv6_and_ipv4_mapped_peers():
    assert client_address("fd00::1", ["2001:db8::5"], TRUSTED) == "2001:db8::5"
    assert client_address("::ffff:10.1.1.1", ["203.0.113.5"], TRUSTED) == "203.0.113.5"


def test_a_malformed_trusted_proxies_setting_stops_the_start():
    with pytest.raises(ConfigError):
        GatewaySettings.from_env({"TRUSTED_PROXIES": "10.0.0.0/8, not-a-network"})
    assert GatewaySettings.from_env({"TRUSTED_PROXIES": " 127.0.0.2 ,"}).trusted_proxies == \
        parse_trusted_proxies("127.0.0.2/32")
