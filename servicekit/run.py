"""Run one nameko service class with configuration from the environment.

    python -m servicekit.run services.identity.service:IdentityService
"""
from servicekit import green

green.patch()

import importlib
import signal
import sys

import eventlet
from nameko.runners import ServiceRunner

from servicekit import broker, config, logs

STOP_SECONDS = 20.0


def load(path: str):
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def main(argv: list[str]) -> None:
    service_cls = load(argv[0])
    logs.configure(service_cls.name)
    # Survive broker faults (servicekit.broker); a class may answer faster than
    # the default publish retry (the gateway: `publish_retry_seconds`).
    broker.install(getattr(service_cls, "publish_retry_seconds", None))
    # identity signs access tokens (its private key is checked at start), the gateway verifies them
    # (public keys only); each process connects to RabbitMQ as its own user (servicekit.broker_users)
    runner = ServiceRunner(broker.nameko_config(config.nameko_config(
        service_cls.name, signs_access_tokens=getattr(service_cls, "signs_access_tokens", False),
        verifies_access_tokens=getattr(service_cls, "verifies_access_tokens", False))))
    runner.add_service(service_cls)

    def shutdown(signum, frame):
        eventlet.spawn_n(runner.stop)
        # A graceful stop waits for the broker to cancel the consumers: while
        # the broker is away it would wait forever.
        eventlet.spawn_after(STOP_SECONDS, runner.kill)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    runner.start()
    runner.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
