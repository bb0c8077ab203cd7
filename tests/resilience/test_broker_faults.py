"""One nameko container whose broker connection goes through a TCP proxy that
the test cuts: with servicekit.broker installed the process rides it out (an
RPC reply that cannot be published no longer kills the container; consumers
come back on their own). Real RabbitMQ; the whole suite is in test_suite_faults."""
import time
from urllib.parse import urlsplit, urlunsplit

import eventlet
import pytest
from nameko.amqp.publish import Publisher
from nameko.rpc import rpc
from nameko.standalone.rpc import ServiceRpcProxy

from contracts.errors import AppError
from servicekit import broker
from tests.support.tcp_proxy import TcpProxy


class Sleeper:
    name = "sleeper"

    @rpc
    def sleep(self, seconds):
        eventlet.sleep(seconds)
        return seconds


@pytest.fixture
def resilient():
    broker.install(publish_retry_seconds=2)
    yield
    broker.uninstall()


@pytest.fixture
def proxied(rabbit_config):
    amqp = urlsplit(rabbit_config["AMQP_URI"])
    with TcpProxy(amqp.hostname, amqp.port or 5672) as proxy:
        through = amqp._replace(netloc=f"{amqp.username}:{amqp.password}@127.0.0.1:{proxy.port}")
        yield proxy, dict(rabbit_config, AMQP_URI=urlunsplit(through), HEARTBEAT=2)


def eventually(check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except Exception:
            if time.monotonic() > deadline:
                raise
            eventlet.sleep(0.5)


def test_a_reply_that_cannot_be_sent_fails_the_call_not_the_process(resilient, proxied, rabbit_config,
                                                                     container_factory):
    proxy, config = proxied
    container = container_factory(Sleeper, config)
    container.start()
    with ServiceRpcProxy("sleeper", rabbit_config) as client:  # the caller's own way to the broker is intact
        assert client.sleep(0) == 0
        pending = client.sleep.call_async(2)
        eventlet.sleep(0.5)
        proxy.cut()  # the reply publish fails: refused, then out of retries
        eventlet.sleep(10)
        assert not container._died.ready(), "the container died"
        proxy.restore()
        # The request was never acked on the dropped connection: the broker
        # redelivers it, the re-run's reply reaches the caller.
        with eventlet.Timeout(30):
            assert pending.result() == 2
        assert eventually(lambda: client.sleep(0)) == 0
    assert not container._died.ready()


def test_a_silent_network_is_noticed_by_heartbeats_and_survived(resilient, proxied, rabbit_config,
                                                                container_factory):
    proxy, config = proxied
    container = container_factory(Sleeper, config)
    container.start()
    with ServiceRpcProxy("sleeper", rabbit_config) as client:
        proxy.freeze()  # no RST, no FIN: only the 2 s heartbeat notices
        pending = client.sleep.call_async(0)
        eventlet.sleep(6)
        proxy.cut()
        proxy.restore()
        with eventlet.Timeout(30):
            assert pending.result() == 0
        assert client.sleep(0) == 0
    assert not container._died.ready()


def test_publishing_gives_up_after_its_budget_with_service_unavailable(resilient, proxied):
    proxy, config = proxied
    publisher = Publisher(config["AMQP_URI"])  # what every nameko publisher (RPC, replies, events) uses
    publisher.publish({"n": 1}, routing_key="nowhere")
    proxy.cut()
    started = time.monotonic()
    with pytest.raises(AppError) as refused:
        publisher.publish({"n": 2}, routing_key="nowhere")
    assert refused.value.code == "SERVICE_UNAVAILABLE"
    assert 1 < time.monotonic() - started < 10  # retried for its 2 s budget, then gave up
    proxy.restore()
    publisher.publish({"n": 3}, routing_key="nowhere")  # the pooled connection is revived


def test_a_container_can_be_killed_while_the_broker_is_away(resilient, proxied, container_factory):
    # servicekit.run kills the container when a graceful stop has not finished
    # in 20 s; nameko's consumer alone would keep reconnecting forever.
    proxy, config = proxied
    container = container_factory(Sleeper, config)
    container.start()
    proxy.cut()
    eventlet.sleep(2)  # reconnecting
    with eventlet.Timeout(10):
        container.kill()
    assert container._died.ready()
