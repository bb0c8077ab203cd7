"""Service tests of messaging: the real service in a nameko container, real
PostgreSQL and RabbitMQ, and a real SMTP server (aiosmtpd) in this process."""
import socket
import time

import eventlet
import kombu
import pytest
from sqlalchemy import create_engine, text

from contracts.envelope import make_envelope
from scripts import mailsink
from servicekit import config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout=20.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        eventlet.sleep(interval)
    raise AssertionError("condition not reached in time")


class Smtp:
    """A real SMTP server on a fixed port that a test can stop and start."""

    def __init__(self, folder, port):
        self.folder, self.port, self.controller = folder, port, None

    def start(self):
        self.controller = mailsink.start(self.folder, port=self.port)
        return self

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def messages(self):
        return mailsink.read_messages(self.folder)

    def wait_count(self, count, timeout=20.0):
        wait_for(lambda: len(self.messages()) >= count, timeout)
        eventlet.sleep(0.6)  # a duplicate would arrive now
        return self.messages()


@pytest.fixture
def smtp(tmp_path, monkeypatch):
    port = free_port()
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(port))
    monkeypatch.setenv("SMTP_RETRY_BASE_SECONDS", "0.2")
    monkeypatch.setenv("SMTP_CONNECTIONS", "2")
    server = Smtp(tmp_path / "mail", port)
    yield server
    server.stop()


@pytest.fixture
def engine(service_databases):
    engine = create_engine(config.database_url("messaging"))
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE deliveries, messages, kit_outbox, kit_processed_events, kit_failed_events, "
                          "email_preferences"))
    yield engine
    engine.dispose()


def scalar(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def rows(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).all()


class Publisher:
    """Publishes events as the other services' outbox relays would."""

    def __init__(self, amqp_uri):
        self.amqp_uri = amqp_uri

    def envelope(self, source, event_type, payload, org_id=None):
        return make_envelope(event_type, payload, source=source, org_id=org_id or payload.get("org_id"))

    def send(self, envelope):
        with kombu.Connection(self.amqp_uri) as conn:
            exchange = kombu.Exchange(f"{envelope['source']}.events", type="topic", durable=True)
            conn.Producer().publish(envelope, exchange=exchange, routing_key=envelope["type"], declare=[exchange],
                                    serializer="json")
        return envelope

    def __call__(self, source, event_type, payload, org_id=None):
        return self.send(self.envelope(source, event_type, payload, org_id))


@pytest.fixture
def messaging(container_factory, rabbit_config, engine, smtp):
    from services.messaging.service import MessagingService

    # Few workers: the shared PostgreSQL has a bounded number of connections.
    container = container_factory(MessagingService, {**rabbit_config, "max_workers": 6})
    container.start()
    return Publisher(rabbit_config["AMQP_URI"])
