"""Service tests of messaging: the real service in a nameko container, real
PostgreSQL and RabbitMQ, and a real SMTP server (aiosmtpd) in this process."""
import uuid
from datetime import UTC, datetime

import eventlet
import kombu
import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from contracts.envelope import make_envelope
from scripts import mailsink
from servicekit import config
from tests.support.suite import free_port
from tests.support.waiting import wait_for


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


def new_id() -> str:
    return str(uuid.uuid4())


NOW = datetime.now(UTC).isoformat()


def clear_deliveries(engine):
    for _ in range(10):  # the sender may hold some rows: retry on a lock conflict
        try:
            with engine.begin() as conn:
                conn.execute(text("LOCK TABLE deliveries IN EXCLUSIVE MODE"))
                conn.execute(text("DELETE FROM deliveries"))
            return
        except OperationalError:
            eventlet.sleep(0.2)
    raise AssertionError("could not clear the deliveries")


@pytest.fixture
def world(messaging, engine):
    """An org with two programs: p1 members ann (enrolled in c1), bob (opted out of program
    messages), cid (not enrolled); p2 member dan; eve invited to p1, not joined."""
    publish = messaging
    org, p1, p2, k1, k2 = (new_id() for _ in range(5))
    people = {name: {"user_id": new_id(), "email": f"{name}@example.com", "full_name": name.title()}
              for name in ("ann", "bob", "cid", "dan", "eve", "zed")}
    publish("identity", "identity.org.created.v1", {"org_id": org, "name": "Initech", "brand_color": "#004488",
                                                    "logo_url": None, "timezone": "UTC"})
    for program, name, contract in ((p1, "Analytics", k1), (p2, "Leadership", k2)):
        publish("programs", "programs.program.created.v1", {
            "program_id": program, "org_id": org, "name": name, "slug": name.lower(), "tagline": None,
            "join_url": f"https://learn.example/{name.lower()}", "contract_ids": [contract],
            "enrollment_limit": None})
    for name, program, contract in (("ann", p1, k1), ("bob", p1, k1), ("cid", p1, k1), ("dan", p2, k2)):
        publish("programs", "programs.member.joined.v1", {
            "membership_id": new_id(), "org_id": org, "program_id": program, "program_name": "x",
            **people[name], "contract_id": contract, "invitation_id": None, "joined_at": NOW})
    publish("programs", "programs.enrollment.created.v1", {
        "enrollment_id": new_id(), "org_id": org, "program_id": p1, **people["ann"], "kind": "COURSE",
        "course_id": "c1", "specialization_id": None, "item_name": "C1", "item_slug": "c1", "collection_id": None,
        "enrolled_at": NOW})
    publish("invitations", "invitations.invitation.created.v1", {
        "invitation_id": new_id(), "org_id": org, "program_id": p1, "program_name": "Analytics", "contract_id": k1,
        **people["eve"], "external_id": None, "send_email": False, "accept_url": None, "custom_message": None,
        "expires_at": NOW, "invited_by": None})
    # zed is a person of the org (profile) in no program.
    publish("identity", "identity.profile.updated.v1", {"org_id": org, **people["zed"]})
    wait_for(lambda: scalar(engine, "SELECT count(*) FROM people WHERE org_id = :o", o=org) == 6
             and scalar(engine, "SELECT count(*) FROM invitations WHERE org_id = :o", o=org) == 1
             and scalar(engine, "SELECT count(*) FROM enrollments WHERE org_id = :o", o=org) == 1
             and scalar(engine, "SELECT count(*) FROM memberships WHERE org_id = :o", o=org) == 4
             and scalar(engine, "SELECT count(*) FROM programs WHERE org_id = :o", o=org) == 2
             and scalar(engine, "SELECT count(*) FROM orgs WHERE id = :o", o=org) == 1)
    clear_deliveries(engine)  # the welcome emails of this set-up are not what these tests look at
    with ServiceRpcProxy("messaging", {"AMQP_URI": publish.amqp_uri}) as proxy:
        proxy.set_preferences("bob@example.com", {"program_messages": False})
        yield {"org": org, "p1": p1, "p2": p2, "k1": k1, "people": people, "rpc": proxy,
               "author": {"user_id": new_id(), "email": "boss@initech.example", "full_name": "Bill Boss"}}
