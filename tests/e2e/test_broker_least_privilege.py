"""Issue 11 item 2: no token minting from the broker. Every process of the
suite connects to RabbitMQ as its own user (servicekit.broker_users), and the
broker refuses what that process has no business doing.

Reproduction of the finding: before, every process shared `BROKER_URL`
(a user with every right), and a nameko ClusterRpcProxy holding it called
`identity.issue_tokens(user_id)` and got valid tokens; the test suite's own
`guest` user still can (last test), as an operator with the admin's
credentials could."""
import time
from urllib.parse import quote, urlsplit, urlunsplit

import amqp
import kombu
import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy, StandaloneProxyBase

from servicekit import config
from tests.e2e.conftest import create_org
from tests.support.suite import AUTH, MANAGEMENT

PASSWORD = "correct horse battery"  # tests.e2e.conftest.create_org
PROCESSES = ("gateway", "identity", "invitations", "messaging", "programs")


def url_as(suite, service: str) -> str:
    """The suite's broker URL with a process's own user and (development) password."""
    parts = urlsplit(suite.env["BROKER_URL"])
    credentials = f"{quote(config.broker_user(service))}:{quote(config.broker_password(service))}"
    netloc = f"{credentials}@{parts.hostname}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def proxy_as(suite, service: str) -> ClusterRpcProxy:
    """A standalone ClusterRpcProxy connecting as `service`'s broker user (its
    reply queue named like that service's, `rpc.reply-<service>-<uuid>`)."""
    container = type("Container", (StandaloneProxyBase.ServiceContainer,), {"service_name": service})
    proxy_class = type("ProxyAs", (ClusterRpcProxy,), {"ServiceContainer": container})
    return proxy_class({"AMQP_URI": url_as(suite, service), "serializer": "json"}, timeout=15)


@pytest.fixture(scope="module")
def person(suite, api):
    """(org_id, user_id, email) of an org admin (password PASSWORD)."""
    org_id, admin, email = create_org(suite, api)
    return org_id, admin.get("/v1/me").json()["id"], email


def test_every_process_connects_as_its_own_broker_user(suite):
    wanted = {config.broker_user(name) for name in PROCESSES}
    deadline = time.monotonic() + 20  # the management API lists connections with a few seconds' delay
    while True:
        connections = requests.get(f"{MANAGEMENT}/connections", auth=AUTH, timeout=10).json()
        users = {c["user"] for c in connections if c.get("vhost") == suite.vhost}
        if wanted <= users or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert wanted <= users, users
    grants = requests.get(f"{MANAGEMENT}/vhosts/{quote(suite.vhost, safe='')}/permissions", auth=AUTH,
                          timeout=10).json()
    granted = {g["user"]: g for g in grants}
    assert granted[config.broker_user("messaging")]["write"] != ".*"


@pytest.mark.parametrize("caller", ["messaging", "programs"])
def test_a_service_that_may_not_mint_tokens_is_refused_by_the_broker(suite, person, caller):
    org_id, user_id, _ = person
    with proxy_as(suite, caller) as rpc:
        if caller == "programs":  # what programs does call still works
            assert rpc.identity.get_person(org_id, user_id)["user_id"] == user_id
        with pytest.raises(amqp.exceptions.AccessRefused, match="identity.issue_tokens"):
            rpc.identity.issue_tokens(user_id)
    with proxy_as(suite, caller) as rpc, pytest.raises(amqp.exceptions.AccessRefused, match="identity.add_admin"):
        rpc.identity.add_admin(org_id, "evil@example.com", "Evil", "ORG_ADMIN")


def test_invitations_may_mint_tokens_but_not_add_admins(suite, person):
    org_id, user_id, _ = person
    with proxy_as(suite, "invitations") as rpc:
        tokens = rpc.identity.issue_tokens(user_id)
        assert tokens["access_token"] and tokens["refresh_token"]
    with proxy_as(suite, "invitations") as rpc, pytest.raises(amqp.exceptions.AccessRefused, match="add_admin"):
        rpc.identity.add_admin(org_id, "evil@example.com", "Evil", "ORG_ADMIN")


def test_the_gateway_gets_tokens_only_with_credentials(suite, person):
    """The gateway calls `login` and `refresh` (identity checks the credentials), never
    `issue_tokens` for a bare user id: its broker user may do the former only."""
    org_id, user_id, _ = person
    with proxy_as(suite, "gateway") as rpc:
        assert rpc.identity.get_user(user_id)["id"] == user_id
        with pytest.raises(amqp.exceptions.AccessRefused, match="identity.issue_tokens"):
            rpc.identity.issue_tokens(user_id)


def _publish(suite, service: str, exchange: str, routing_key: str) -> None:
    with kombu.Connection(url_as(suite, service), transport_options={"confirm_publish": True}) as conn:
        target = kombu.Exchange(exchange, type="topic", durable=True)
        conn.Producer().publish({"id": "x"}, exchange=target, declare=[target], routing_key=routing_key,
                                serializer="json", retry=False, timeout=10)


def test_an_event_published_under_another_services_name_is_refused(suite):
    # messaging writing on identity's events exchange (a forged password-reset request)
    with pytest.raises(amqp.exceptions.AccessRefused, match="identity.events"):
        _publish(suite, "messaging", "identity.events", "identity.user.password_reset_requested.v1")
    # on its own exchange, but claiming to be another source
    with pytest.raises(amqp.exceptions.AccessRefused, match="programs.member.joined.v1"):
        _publish(suite, "messaging", "messaging.events", "programs.member.joined.v1")
    # its own events are fine
    _publish(suite, "messaging", "messaging.events", "messaging.message.sent.v1")


def test_no_one_can_bind_a_queue_to_another_services_requests(suite):
    """Reading identity's RPC requests (logins carry passwords) takes a binding to `identity.*`."""
    with kombu.Connection(url_as(suite, "messaging")) as conn, \
            pytest.raises(amqp.exceptions.AccessRefused, match=r"identity\.\*"):
        exchange = kombu.Exchange("nameko-rpc", type="topic", durable=True)
        kombu.Queue("rpc-messaging", exchange, routing_key="identity.*")(conn.channel()).declare()


def test_the_broker_admin_still_can(suite, person):
    """The original finding, with a user that has every right (what every process shared before)."""
    _, user_id, _ = person
    with ClusterRpcProxy({"AMQP_URI": suite.env["BROKER_URL"], "serializer": "json"}, timeout=15) as rpc:
        assert rpc.identity.issue_tokens(user_id)["access_token"]
