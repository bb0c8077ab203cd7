"""The runtime kit against the real PostgreSQL and RabbitMQ: concurrency of the
database driver under eventlet, commit/rollback of the unit of work, the
outbox relay, idempotent handlers, retries and parking, metrics and health."""
import json
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import eventlet
import pytest
import requests
from marshmallow import Schema, fields
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from contracts.envelope import make_envelope
from contracts.errors import AppError
from contracts.registry import Event
from servicekit import config
from servicekit.entrypoints import rpc
from servicekit.events import handle_event, list_failed, replay_parked
from servicekit.kit_tables import create_kit_tables
from servicekit.outbox import record_event
from servicekit.service import ServiceBase
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_for


class ThingHappened(Schema):
    thing_id = fields.String(required=True)
    fail = fields.Boolean(load_default=False)


THING_HAPPENED = Event("kitsource.thing.happened.v1", ThingHappened)


@pytest.fixture(scope="module")
def kit_databases():
    """Two throwaway service databases with the kit tables and a `things` table."""
    from servicekit.migrations import drop_database, ensure_database

    engines = {}
    for service in ("kitsource", "kitsink"):
        drop_database(service)
        ensure_database(service)
        engine = create_engine(config.database_url(service))
        create_kit_tables(engine)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE things (id text PRIMARY KEY, applied integer NOT NULL DEFAULT 1)"))
        engines[service] = engine
    yield engines
    for service, engine in engines.items():
        engine.dispose()
        drop_database(service)


@pytest.fixture
def clean(kit_databases):
    for engine in kit_databases.values():
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE things, kit_outbox, kit_processed_events, kit_failed_events"))
    return kit_databases


class Source(ServiceBase):
    name = "kitsource"

    @rpc
    def slow(self, seconds):
        self.db.session.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
        return "done"

    @rpc
    def create(self, thing_id, fail=False, explode=False):
        self.db.session.execute(text("INSERT INTO things (id) VALUES (:id)"), {"id": thing_id})
        self.db.publish(THING_HAPPENED, {"thing_id": thing_id, "fail": fail}, org_id="org-1")
        if explode:
            raise AppError("RULE_VIOLATION", "refused after writing")
        return thing_id

    @rpc(read_only=True)
    def count_things(self):
        return self.db.session.execute(text("SELECT count(*) AS read_only_count FROM things")).scalar()

    @rpc(read_only=True)
    def write_in_read_only(self, thing_id):
        self.db.session.execute(text("INSERT INTO things (id) VALUES (:id)"), {"id": thing_id})
        return thing_id

    @rpc(read_only=True)
    def count_things_read(self):
        """The same query through `uow.read`: a plain connection, no ORM session."""
        return self.db.read(text("SELECT count(*) AS read_only_count FROM things")).scalar()

    @rpc(read_only=True)
    def write_through_read(self, thing_id):
        self.db.read(text("INSERT INTO things (id) VALUES (:id)"), {"id": thing_id})
        return thing_id

    @rpc
    def create_and_count(self, thing_id):
        """In a writing unit, `read` runs in its transaction and sees its writes."""
        self.db.session.execute(text("INSERT INTO things (id) VALUES (:id)"), {"id": thing_id})
        return self.db.read(text("SELECT count(*) FROM things")).scalar()


class Sink(ServiceBase):
    name = "kitsink"

    @handle_event(THING_HAPPENED, max_attempts=3)
    def on_thing(self, event):
        if event.payload["fail"]:
            raise RuntimeError("handler keeps failing")
        self.db.session.execute(
            text("INSERT INTO things (id) VALUES (:id) ON CONFLICT (id) DO UPDATE SET applied = things.applied + 1"),
            {"id": event.payload["thing_id"]},
        )


def scalar(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def test_slow_queries_do_not_stall_other_workers(container_factory, rabbit_config, clean):
    container = container_factory(Source, rabbit_config)
    container.start()
    with ServiceRpcProxy("kitsource", rabbit_config) as proxy:
        proxy.slow(0)  # warm the pool
        started = time.perf_counter()
        calls = [proxy.slow.call_async(0.5) for _ in range(10)]
        assert [c.result() for c in calls] == ["done"] * 10
        elapsed = time.perf_counter() - started
    # Serialised they would take 5 s; cooperative I/O keeps them near 0.5 s.
    assert elapsed < 2.0, f"10 concurrent 0.5 s queries took {elapsed:.2f}s"


def test_event_is_published_after_commit_and_applied_once(container_factory, rabbit_config, clean):
    source = container_factory(Source, rabbit_config)
    sink = container_factory(Sink, rabbit_config)
    sink.start()
    source.start()
    with ServiceRpcProxy("kitsource", rabbit_config) as proxy:
        assert proxy.create("t1") == "t1"
    sink_db = clean["kitsink"]
    wait_for(lambda: scalar(sink_db, "SELECT applied FROM things WHERE id = 't1'"))
    assert scalar(clean["kitsource"], "SELECT count(*) FROM kit_outbox WHERE published_at IS NOT NULL") == 1
    envelope = scalar(clean["kitsource"], "SELECT envelope FROM kit_outbox")
    assert envelope["type"] == "kitsource.thing.happened.v1" and envelope["org_id"] == "org-1"
    assert envelope["correlation_id"]


def test_refused_call_commits_nothing_and_publishes_nothing(container_factory, rabbit_config, clean):
    container_factory(Source, rabbit_config).start()
    with ServiceRpcProxy("kitsource", rabbit_config) as proxy:
        with pytest.raises(AppError) as refused:
            proxy.create("t2", explode=True)
    assert refused.value.code == "RULE_VIOLATION"
    assert scalar(clean["kitsource"], "SELECT count(*) FROM things") == 0
    assert scalar(clean["kitsource"], "SELECT count(*) FROM kit_outbox") == 0


def test_read_only_rpc_reads_and_refuses_writes(container_factory, rabbit_config, clean):
    container_factory(Source, rabbit_config).start()
    with ServiceRpcProxy("kitsource", rabbit_config) as proxy:
        assert proxy.create("t3") == "t3"
        assert proxy.count_things() == 1
        with pytest.raises(RemoteError) as refused:
            proxy.write_in_read_only("t4")
        assert "read-only transaction" in str(refused.value)
        assert proxy.create("t5") == "t5"  # writers are not affected
        assert proxy.count_things() == 2
        assert proxy.count_things_read() == 2
        with pytest.raises(RemoteError) as refused_read:
            proxy.write_through_read("t6")
        assert "read-only transaction" in str(refused_read.value)
        assert proxy.create_and_count("t7") == 3
    assert scalar(clean["kitsource"], "SELECT count(*) FROM things WHERE id IN ('t4', 't6')") == 0


def test_read_only_rpc_survives_dropped_connections(container_factory, rabbit_config, clean):
    """Read-only connections are not pinged at checkout: a read that meets a dead one is run again."""
    container_factory(Source, rabbit_config).start()
    with ServiceRpcProxy("kitsource", rabbit_config) as proxy:
        for count in (proxy.count_things, proxy.count_things_read):
            assert count() == 0
            killed = scalar(clean["kitsource"], "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                                "WHERE query LIKE '%read_only_count%' AND pid <> pg_backend_pid()")
            assert killed >= 1
            assert count() == 0


def publish_raw(rabbit_config, envelope):
    import kombu

    with kombu.Connection(rabbit_config["AMQP_URI"]) as conn:
        exchange = kombu.Exchange("kitsource.events", type="topic", durable=True)
        conn.Producer().publish(envelope, exchange=exchange, routing_key=envelope["type"], declare=[exchange],
                                serializer="json")


def test_redelivered_event_applies_once(container_factory, rabbit_config, clean):
    container_factory(Sink, rabbit_config).start()
    envelope = make_envelope(THING_HAPPENED, {"thing_id": "dup"}, source="kitsource", org_id="o")
    for _ in range(3):
        publish_raw(rabbit_config, envelope)
    sink_db = clean["kitsink"]
    wait_for(lambda: scalar(sink_db, "SELECT count(*) FROM kit_processed_events") == 1)
    eventlet.sleep(0.5)  # give the two duplicates time to be (not) applied
    assert scalar(sink_db, "SELECT applied FROM things WHERE id = 'dup'") == 1


def test_failing_handler_is_parked_and_replayable(container_factory, rabbit_config, clean):
    container_factory(Sink, rabbit_config).start()
    envelope = make_envelope(THING_HAPPENED, {"thing_id": "bad", "fail": True},
                             source="kitsource", org_id="o")
    publish_raw(rabbit_config, envelope)
    sink_db = clean["kitsink"]
    wait_for(lambda: list_failed(sink_db, "PARKED"))
    (parked,) = list_failed(sink_db, "PARKED")
    assert parked["attempts"] == 3 and parked["event_id"] == envelope["id"]
    assert "handler keeps failing" in parked["last_error"]
    assert scalar(sink_db, "SELECT count(*) FROM things") == 0

    # An operator fixes the cause and replays: the event applies, exactly once.
    with sink_db.begin() as conn:
        conn.execute(text("UPDATE kit_failed_events SET envelope = jsonb_set(envelope, '{payload,fail}', 'false')"))
    assert replay_parked(sink_db, rabbit_config["AMQP_URI"]) == 1
    wait_for(lambda: scalar(sink_db, "SELECT applied FROM things WHERE id = 'bad'"))
    assert scalar(sink_db, "SELECT count(*) FROM kit_failed_events") == 0


def test_invalid_event_is_parked_at_once(container_factory, rabbit_config, clean):
    container_factory(Sink, rabbit_config).start()
    bogus = {"id": str(uuid.uuid4()), "type": "kitsource.thing.happened.v1", "payload": {}}
    publish_raw(rabbit_config, bogus)
    rows = wait_for(lambda: list_failed(clean["kitsink"], "PARKED"))
    assert rows[0]["attempts"] == 1 and "INVALID_EVENT" in rows[0]["last_error"]


def test_an_event_postgresql_cannot_store_is_parked_not_requeued_for_ever(container_factory, rabbit_config, clean):
    """NUL characters and lone surrogates (which jsonb refuses) in a malformed event: it is still recorded and
    parked at once (with U+FFFD in their place), never requeued because its failure could not be recorded."""
    container_factory(Sink, rabbit_config).start()
    bogus = {"id": str(uuid.uuid4()) + "\x00", "type": "kitsource.thing.happened.v1",
             "payload": {"thing_id": "a\x00b\ud800", "x\x00": ["\x00"]}}
    publish_raw(rabbit_config, bogus)
    rows = wait_for(lambda: list_failed(clean["kitsink"], "PARKED"))
    assert rows[0]["attempts"] == 1 and "INVALID_EVENT" in rows[0]["last_error"]
    assert "\ufffd" in rows[0]["event_id"]


def test_event_recorded_while_broker_is_cut_is_delivered_later(container_factory, rabbit_config, clean):
    broker = urlsplit(rabbit_config["AMQP_URI"])
    with TcpProxy(broker.hostname, broker.port or 5672) as proxy:
        through_proxy = broker._replace(netloc=f"{broker.username}:{broker.password}@127.0.0.1:{proxy.port}")
        proxied = dict(rabbit_config, AMQP_URI=urlunsplit(through_proxy))
        sink = container_factory(Sink, rabbit_config)
        sink.start()
        source = container_factory(Source, proxied)
        source.start()
        with ServiceRpcProxy("kitsource", proxied) as client:
            client.create("before")
        wait_for(lambda: scalar(clean["kitsink"], "SELECT count(*) FROM things WHERE id = 'before'"))

        # Cut the relay's way to the broker and record an event directly in the
        # source database (as a committed unit of work would).
        proxy.cut()
        source_db = clean["kitsource"]
        with Session(source_db) as session:
            record_event(session, "kitsource", THING_HAPPENED, {"thing_id": "during"}, "o")
            session.commit()
        eventlet.sleep(3)
        assert scalar(source_db, "SELECT count(*) FROM kit_outbox WHERE published_at IS NULL") == 1
        assert scalar(clean["kitsink"], "SELECT count(*) FROM things WHERE id = 'during'") == 0

        proxy.restore()
        wait_for(lambda: scalar(clean["kitsink"], "SELECT count(*) FROM things WHERE id = 'during'"), timeout=45)
        assert scalar(source_db, "SELECT count(*) FROM kit_outbox WHERE published_at IS NULL") == 0
        source.stop()  # while the proxy still runs: its consumer reconnects through it


def test_metrics_health_and_readiness(container_factory, rabbit_config, clean):
    container = container_factory(Source, rabbit_config)
    container.start()
    with ServiceRpcProxy("kitsource", rabbit_config) as proxy:
        proxy.slow(0)
        with pytest.raises(AppError):
            proxy.create("x", explode=True)
    observability = next(d for d in container.dependencies if d.attr_name == "observability")
    base = f"http://127.0.0.1:{observability.port}"
    assert requests.get(f"{base}/healthz", timeout=5).json()["status"] == "ok"
    ready = requests.get(f"{base}/readyz", timeout=5)
    assert ready.status_code == 200, ready.text
    assert json.loads(ready.text)["checks"] == {"broker": "ok", "db": "ok"}
    metrics = requests.get(f"{base}/metrics", timeout=5).text
    assert 'learnadmin_entrypoint_requests_total{entrypoint="slow",kind="rpc",service="kitsource"}' in metrics
    assert ('learnadmin_entrypoint_errors_total{code="RULE_VIOLATION",entrypoint="create",kind="rpc",'
            'service="kitsource"}' in metrics)
    assert "learnadmin_entrypoint_duration_seconds_bucket" in metrics
    assert "learnadmin_outbox_pending_events" in metrics



def test_two_relays_publish_each_event_exactly_once(container_factory, rabbit_config, clean):
    import kombu

    source_db = clean["kitsource"]
    with Session(source_db) as session:
        for i in range(600):
            record_event(session, "kitsource", THING_HAPPENED, {"thing_id": f"r{i}"}, "o")
        session.commit()
    with kombu.Connection(rabbit_config["AMQP_URI"]) as conn:
        exchange = kombu.Exchange("kitsource.events", type="topic", durable=True)
        queue = kombu.Queue("count-relayed", exchange=exchange, routing_key="kitsource.thing.happened.v1")
        queue(conn.default_channel).declare()
        # Two replicas of the same service relay the same outbox table.
        for _ in range(2):
            container_factory(Source, rabbit_config).start()
        wait_for(lambda: scalar(source_db, "SELECT count(*) FROM kit_outbox WHERE published_at IS NULL") == 0,
                 timeout=60)
        received = []
        bound = queue(conn.default_channel)
        while (message := bound.get(no_ack=True)) is not None:
            received.append(message.payload["id"])
    assert len(received) == 600 and len(set(received)) == 600


def test_expired_outbox_rows_and_processed_records_are_purged(clean):
    from servicekit.outbox import PROCESSED_RETENTION_DAYS, purge_expired

    engine = clean["kitsource"]
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO kit_outbox (event_id, event_type, exchange, envelope, published_at) VALUES "
            "(gen_random_uuid(), 't', 'x', '{}', now() - interval '8 days'), "   # published long ago: purged
            "(gen_random_uuid(), 't', 'x', '{}', now() - interval '1 day'), "    # recently published: kept
            "(gen_random_uuid(), 't', 'x', '{}', NULL)"))                        # not published: kept
        conn.execute(text(
            "INSERT INTO kit_processed_events (event_id, handler, processed_at) VALUES "
            "('old', 'h', now() - make_interval(days => :days + 1)), ('new', 'h', now())"),
            {"days": PROCESSED_RETENTION_DAYS})
        assert purge_expired(conn) == 2
    assert scalar(engine, "SELECT count(*) FROM kit_outbox") == 2
    assert scalar(engine, "SELECT count(*) FROM kit_outbox WHERE published_at IS NULL") == 1
    assert scalar(engine, "SELECT event_id FROM kit_processed_events") == "new"


class ThingFollowed(Schema):
    thing_id = fields.String(required=True)


THING_FOLLOWED = Event("kitsink.thing.followed.v1", ThingFollowed)
CALLER = {"actor_kind": "person", "actor_id": "8a6f1f4e-5d1e-4a43-9a55-0a2f1c1d2e3f", "client_address": "198.51.100.9"}


class Follower(ServiceBase):
    """A handler that publishes an event of its own: it names the actor of the event it handles."""
    name = "kitsink"

    @handle_event(THING_HAPPENED)
    def on_thing(self, event):
        self.db.publish(THING_FOLLOWED, {"thing_id": event.payload["thing_id"]}, org_id=event.org_id)


def test_events_name_the_caller_and_handlers_pass_it_on(container_factory, rabbit_config, clean):
    """The caller in the RPC's context data (what the gateway sets) is in the
    envelope of every event the call publishes, and of the events a handler
    publishes for it; a call without a caller publishes actor null."""
    container_factory(Source, rabbit_config).start()
    container_factory(Follower, rabbit_config).start()
    with ServiceRpcProxy("kitsource", rabbit_config, context_data=dict(CALLER)) as proxy:
        proxy.create("t-actor")
    with ServiceRpcProxy("kitsource", rabbit_config) as proxy:
        proxy.create("t-nobody")
    source, sink = clean["kitsource"], clean["kitsink"]
    envelope = scalar(source, "SELECT envelope FROM kit_outbox WHERE envelope->'payload'->>'thing_id' = 't-actor'")
    assert envelope["actor"] == {"kind": "person", "id": CALLER["actor_id"]}
    assert envelope["client_address"] == "198.51.100.9"
    nobody = scalar(source, "SELECT envelope FROM kit_outbox WHERE envelope->'payload'->>'thing_id' = 't-nobody'")
    assert nobody["actor"] is None and nobody["client_address"] is None
    followed = wait_for(lambda: scalar(
        sink, "SELECT envelope FROM kit_outbox WHERE envelope->'payload'->>'thing_id' = 't-actor'"))
    assert followed["actor"] == envelope["actor"] and followed["client_address"] == "198.51.100.9"
    assert followed["correlation_id"] == envelope["correlation_id"]
    plain = wait_for(lambda: scalar(
        sink, "SELECT envelope FROM kit_outbox WHERE envelope->'payload'->>'thing_id' = 't-nobody'"))
    assert plain["actor"] is None  # the previous worker's caller is not carried over


def test_an_envelope_field_a_consumer_does_not_know_is_ignored():
    from contracts.envelope import Envelope

    body = make_envelope(THING_HAPPENED, {"thing_id": "x"}, source="kitsource", org_id="o",
                         actor={"kind": "api_token", "id": "tok-1"}, client_address="2001:db8::1")
    loaded = Envelope.load({**body, "field_of_a_later_release": {"any": "thing"}})
    assert loaded.actor == {"kind": "api_token", "id": "tok-1"} and loaded.client_address == "2001:db8::1"
    old = {key: value for key, value in body.items() if key not in ("actor", "client_address")}
    assert Envelope.load(old).actor is None  # an event of the previous release
    with pytest.raises(AppError):
        Envelope.load({**body, "actor": {"kind": "robot", "id": "x"}})
