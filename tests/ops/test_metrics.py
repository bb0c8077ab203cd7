"""Metrics read at scrape time never fail the scrape, even after the container
that registered them has stopped (tests start several in one process)."""
import gc

from nameko.containers import ServiceContainer
from nameko.rpc import rpc
from prometheus_client import REGISTRY, generate_latest

from servicekit.observability import Observability


class Scraped:
    name = "scraped"
    observability = Observability(serve_ops=False)

    @rpc
    def hello(self):
        return "hi"


def test_a_stopped_container_does_not_break_metrics(rabbit_config):
    container = ServiceContainer(Scraped, rabbit_config)
    container.start()
    assert REGISTRY.get_sample_value("learnadmin_workers_max", {"service": "scraped"}) > 0
    assert REGISTRY.get_sample_value("learnadmin_entrypoint_requests_total",
                                     {"service": "scraped", "entrypoint": "hello", "kind": "rpc"}) == 0.0
    container.stop()
    del container
    gc.collect()
    assert b"learnadmin_workers_busy" in generate_latest()
