"""The kit's service-shape API: event constants, enums, keyset cursors, the
model helpers, typed settings and the timed RPC proxy. Pure pieces without
a database; the page query and the RPC deadline against the real
PostgreSQL and RabbitMQ."""
import base64
import importlib
import json
import time
import uuid
from dataclasses import FrozenInstanceError, dataclass
from datetime import UTC, datetime, timedelta

import pytest
from marshmallow import Schema, fields
from nameko.rpc import rpc as nameko_rpc
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import Column, DateTime, MetaData, String, Table, create_engine, insert, select
from sqlalchemy.dialects.postgresql import UUID

from contracts import identity, invitations, messaging, programs
from contracts.common import ADMIN_ROLES, AdminRole
from contracts.envelope import make_envelope
from contracts.errors import AppError, ErrorCode
from contracts.registry import Event, lookup, payload_schema, registered
from servicekit import config
from servicekit.clock import utcnow
from servicekit.config import ConfigError, Settings, public_url_setting, secret_setting, setting
from servicekit.entrypoints import settings_timer
from servicekit.events import handle_event
from servicekit.models import normalize_email, parse_uuid, require_uuid
from servicekit.pagination import check_limit, decode_cursor, encode_cursor, keyset_page
from servicekit.rpc import ServiceRpc
from servicekit.service import ServiceSettings

# ---- events ---------------------------------------------------------------


def test_every_registered_event_is_a_constant_of_its_service_contract_module():
    events = {event_type: found for event_type, found in registered().items()
              if event_type.split(".")[0] in ("identity", "programs", "invitations", "messaging")}
    assert len(events) >= 41  # 30, and the audit log's 11 (sign-ins, API tokens, collections, imports, messages)
    for event_type, found in events.items():
        module = importlib.import_module(f"contracts.{found.source}")
        constants = [value for value in vars(module).values() if value is found]
        assert constants, f"{event_type} has no constant in contracts/{found.source}.py"
        assert lookup(event_type) is found and payload_schema(event_type) is found.payload_schema()


def test_an_event_knows_its_source_schema_and_batch_field():
    assert programs.MEMBER_JOINED.type == "programs.member.joined.v1"
    assert programs.MEMBER_JOINED.source == "programs"
    assert programs.MEMBER_JOINED.schema is programs.MemberJoined
    assert identity.USERS_REGISTERED.batch_of == "users"
    assert invitations.INVITATIONS_CREATED.batch_of == "invitations"
    assert not programs.MEMBER_JOINED.public


def test_an_event_type_cannot_be_registered_twice_with_another_schema():
    class Other(Schema):
        x = fields.String()

    with pytest.raises(ValueError, match="registered twice"):
        Event("programs.member.joined.v1", Other)
    with pytest.raises(KeyError):
        lookup("programs.member.jionde.v1")


def test_envelopes_from_a_constant_and_from_its_type_string_are_alike():
    payload = {"invitation_id": "i", "org_id": "o", "program_id": "p", "user_id": "u", "email": "a@b.co"}
    by_constant = make_envelope(invitations.INVITATION_EXPIRED, payload, source="invitations")
    by_string = make_envelope("invitations.invitation.expired.v1", payload, source="invitations")
    assert by_constant["type"] == by_string["type"] == "invitations.invitation.expired.v1"
    assert by_constant["payload"] == by_string["payload"]


def test_handle_event_takes_the_source_from_the_constant():
    def on_joined(self, event):
        return event

    decorated = handle_event(programs.MEMBER_JOINED, max_attempts=2)(on_joined)
    (entrypoint,) = decorated.nameko_entrypoints
    assert (entrypoint.source_service, entrypoint.event_type) == ("programs", "programs.member.joined.v1")
    assert entrypoint.max_attempts == 2
    with pytest.raises(TypeError):  # a type string is not an event: a typo would bind to nothing
        handle_event("programs.member.joined.v1")


def test_handled_by_is_a_handle_event_entrypoint_named_as_its_attribute():
    from types import SimpleNamespace

    from sqlalchemy.orm import sessionmaker

    from servicekit.db import UnitOfWork
    from servicekit.events import handled_by

    calls = []

    class Consumer:
        name = "consumer"
        on_joined = handled_by(programs.MEMBER_JOINED, lambda uow, got: calls.append((uow, got)), max_attempts=3)
        on_removed = handled_by(programs.MEMBER_REMOVED, lambda uow, got: calls.append((uow, got)), payload=True)

    (joined,) = Consumer.on_joined.nameko_entrypoints
    assert (joined.source_service, joined.event_type, joined.max_attempts) == (
        "programs", "programs.member.joined.v1", 3)
    assert Consumer.on_joined.__name__ == "on_joined"  # the handler name kit_processed_events records
    (removed,) = Consumer.on_removed.nameko_entrypoints
    assert removed.event_type == "programs.member.removed.v1"

    service = SimpleNamespace(db=UnitOfWork(sessionmaker(), "consumer"))
    event = SimpleNamespace(payload={"user_id": "u"})
    Consumer.on_joined.__wrapped__(service, event)
    Consumer.on_removed.__wrapped__(service, event)
    assert calls == [(service.db, event), (service.db, {"user_id": "u"})]


def test_publish_takes_only_event_constants():
    from sqlalchemy.orm import sessionmaker

    from servicekit.db import UnitOfWork

    uow = UnitOfWork(sessionmaker(), "programs")
    with pytest.raises(TypeError):
        uow.publish("programs.member.joined.v1", {})
    with pytest.raises(TypeError):
        uow.publish_many("programs.member.removed.v1", [({}, "org")])


def test_services_publish_only_through_the_unit_of_work():
    """No service or gateway module writes the outbox itself (servicekit.outbox.record_event):
    `uow.publish`, `publish_many` or, for an event kept when the unit rolls back, `publish_independently`."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    direct = []
    for folder in ("services", "gateway"):
        for path in (root / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module == "servicekit.outbox" or \
                        isinstance(node, ast.Import) and any(a.name == "servicekit.outbox" for a in node.names):
                    direct.append(f"{path.relative_to(root)}:{node.lineno}")
    assert direct == []


# ---- states and kinds ------------------------------------------------------


def test_enums_have_todays_string_values():
    assert programs.MEMBER_STATES == ("INVITED", "MEMBER", "DELETED_MEMBER")
    assert programs.MemberState.MEMBER == "MEMBER" and f"{programs.MemberState.INVITED}" == "INVITED"
    assert programs.ITEM_KINDS == ("COURSE", "SPECIALIZATION")
    assert invitations.INVITATION_STATES == ("PENDING", "ACCEPTED", "REVOKED", "EXPIRED")
    assert invitations.IMPORT_STATUSES == ("PENDING", "RUNNING", "COMPLETED", "FAILED")
    assert messaging.PRESETS == ("ALL_MEMBERS", "INVITED_NOT_JOINED", "JOINED_NOT_ENROLLED", "CUSTOM")
    assert messaging.FUTURE_PRESETS == ("INACTIVE_FOR_DAYS", "COMPLETED_COURSE")
    assert messaging.DELIVERY_STATES == ("QUEUED", "CLAIMED", "SENDING", "SENT", "FAILED", "SUPPRESSED")
    assert ADMIN_ROLES == ("ORG_ADMIN", "PROGRAM_ADMIN") and AdminRole.ORG_ADMIN == "ORG_ADMIN"
    assert json.dumps([identity.RegisteredVia.SIGNUP]) == '["SIGNUP"]'
    assert all(type(value) is str for value in programs.MEMBER_STATES)  # plain strings in the OpenAPI document


# ---- keyset cursors ---------------------------------------------------------


def _refused(cursor, kinds):
    with pytest.raises(AppError) as refused:
        decode_cursor(cursor, kinds)
    assert refused.value.code == ErrorCode.INVALID_INPUT and "cursor" in refused.value.details
    return refused.value


def test_a_cursor_round_trips_its_typed_sort_key():
    when = datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=UTC)
    key = ("ada lovelace", when, "3f2a6d6e-1c1e-4c55-8f0a-7b9b8b0f8d11", 7)
    cursor = encode_cursor(key)
    assert all(c.isalnum() or c in "-_" for c in cursor)  # URL-safe, no padding
    assert decode_cursor(cursor, (str, datetime, uuid.UUID, int)) == key
    assert decode_cursor(encode_cursor(["a", "b"]), 2) == ("a", "b")
    assert decode_cursor(None, 2) is None and decode_cursor("", 2) is None


def test_a_tampered_or_foreign_cursor_is_invalid_input():
    kinds = (datetime, uuid.UUID)
    good = encode_cursor((utcnow(), str(uuid.uuid4())))

    def raw(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    for garbage in ("%%%", "e30", good[:-3], good + "x", raw([2, "2026-01-01T00:00:00+00:00", str(uuid.uuid4())]),
                    raw(["2026-01-01T00:00:00+00:00", str(uuid.uuid4())]),  # no version (an older format)
                    raw([1, "2026-01-01T00:00:00+00:00", "not-a-uuid"]),
                    raw([1, "2026-01-01T00:00:00", str(uuid.uuid4())]),  # naive time
                    raw([1, 5, str(uuid.uuid4())]), raw([1, "x"]), raw({"v": 1}), raw([1, "a\x00", "b"]),
                    "W" * 10_000):
        _refused(garbage, kinds)
    _refused(raw([1, True]), (int,))


def test_page_sizes_are_bounded():
    assert check_limit(1) == 1 and check_limit(200) == 200 and check_limit(500, max_limit=1000) == 500
    for bad in (0, 201, -1, 1.5, "5", True, None):
        with pytest.raises(AppError) as refused:
            check_limit(bad)
        assert refused.value.code == ErrorCode.INVALID_INPUT


@pytest.fixture(scope="module")
def paged_table():
    from servicekit.migrations import drop_database, ensure_database

    drop_database("kitpages")
    ensure_database("kitpages")
    engine = create_engine(config.database_url("kitpages"))
    table = Table("rows", MetaData(), Column("id", UUID(as_uuid=False), primary_key=True),
                  Column("name", String), Column("created_at", DateTime(timezone=True)))
    table.metadata.create_all(engine)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [{"id": str(uuid.uuid4()), "name": f"n{i % 7}", "created_at": start + timedelta(seconds=i // 3)}
            for i in range(53)]
    with engine.begin() as conn:
        conn.execute(insert(table), rows)
    yield engine, table, rows
    engine.dispose()
    drop_database("kitpages")


@pytest.mark.parametrize("descending", [False, True])
def test_keyset_pages_walk_every_row_once_in_order(paged_table, descending):
    engine, table, rows = paged_table
    expected = sorted(rows, key=lambda r: (r["created_at"], r["id"]), reverse=descending)
    seen, cursor = [], None
    with engine.connect() as conn:
        while True:
            page, cursor = keyset_page(conn, select(table), [table.c.created_at, table.c.id], cursor, 10,
                                       descending=descending)
            seen += [row.id for row in page]
            if cursor is None:
                break
    assert seen == [r["id"] for r in expected]


def test_a_tampered_cursor_never_reaches_the_database(paged_table):
    engine, table, _ = paged_table
    forged = encode_cursor(("2026-01-01T00:00:00+00:00", "not-a-uuid"))
    with engine.connect() as conn, pytest.raises(AppError) as refused:
        keyset_page(conn, select(table), [table.c.created_at, table.c.id], forged, 10)
    assert refused.value.code == ErrorCode.INVALID_INPUT


# ---- models, clock --------------------------------------------------------


def test_parse_uuid_guards_ids():
    value = str(uuid.uuid4())
    assert parse_uuid(value) == value and parse_uuid(value.upper()) == value
    assert parse_uuid(uuid.UUID(value)) == value
    for bad in ("", "42", "x" * 100, None, 42, "not-a-uuid", "\x00"):
        assert parse_uuid(bad) is None
    with pytest.raises(AppError) as missing:
        require_uuid("42", "invitation")
    assert missing.value.code == ErrorCode.NOT_FOUND and missing.value.message == "invitation not found"


def test_one_clock_and_one_email_rule():
    assert utcnow().tzinfo is not None
    assert normalize_email("  Ada@Example.COM ") == "ada@example.com"
    assert normalize_email("Ada@Straße.DE") == "ada@xn--strae-oqa.de"  # IDNA 2008, as a claimed domain (sso.md)


# ---- settings ---------------------------------------------------------------


@dataclass(frozen=True)
class SampleSettings(Settings):
    host: str = setting("SAMPLE_HOST", "127.0.0.1")
    port: int = setting("SAMPLE_PORT", 1025)
    ratio: float = setting("SAMPLE_RATIO", 0.5)
    tls: bool = setting("SAMPLE_TLS", False)
    lease: timedelta = setting("SAMPLE_LEASE_SECONDS", timedelta(seconds=60))
    ca_file: str | None = setting("SAMPLE_CA_FILE", None)
    secret: str = setting("SAMPLE_SECRET", secret=True)


def test_settings_are_typed_frozen_and_read_from_the_given_environment():
    settings = SampleSettings.from_env({"SAMPLE_PORT": "2525", "SAMPLE_TLS": "yes", "SAMPLE_LEASE_SECONDS": "1.5",
                                        "SAMPLE_SECRET": "s3cr3t", "SAMPLE_CA_FILE": "/ca.pem"})
    assert (settings.host, settings.port, settings.ratio, settings.tls) == ("127.0.0.1", 2525, 0.5, True)
    assert settings.lease == timedelta(seconds=1.5) and settings.ca_file == "/ca.pem"
    assert settings.describe()["SAMPLE_SECRET"] == "***"
    with pytest.raises(FrozenInstanceError):
        settings.port = 1


def test_a_missing_or_malformed_setting_is_a_clear_config_error():
    with pytest.raises(ConfigError, match="SAMPLE_SECRET must be set"):
        SampleSettings.from_env({})
    with pytest.raises(ConfigError, match="SAMPLE_PORT='twenty'"):
        SampleSettings.from_env({"SAMPLE_SECRET": "s", "SAMPLE_PORT": "twenty"})
    with pytest.raises(ConfigError, match="SAMPLE_TLS"):
        SampleSettings.from_env({"SAMPLE_SECRET": "s", "SAMPLE_TLS": "maybe"})


@dataclass(frozen=True)
class KeyedSettings(Settings):
    link_secret: str = secret_setting("SAMPLE_LINK_SECRET", "dev-only-sample-link-secret-0123456789abcdef")
    link_key: bytes = secret_setting("SAMPLE_LINK_KEY", "dev-only-sample-link-key-0123456789abcdef")


def test_a_secret_setting_is_required_outside_development_mode_only(monkeypatch):
    monkeypatch.delenv("APP_ENV", raising=False)
    with pytest.raises(ConfigError, match="SAMPLE_LINK_SECRET must be set"):
        KeyedSettings.from_env({})
    for weak in ("short", "dev-only-sample-link-secret-0123456789abcdef"):
        with pytest.raises(ConfigError, match="SAMPLE_LINK_SECRET is too weak"):
            KeyedSettings.from_env({"SAMPLE_LINK_SECRET": weak})
    own = "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d"
    settings = KeyedSettings.from_env({"SAMPLE_LINK_SECRET": own, "SAMPLE_LINK_KEY": own})
    assert settings.link_secret == own and settings.link_key == own.encode()  # typed bytes: encoded
    assert settings.describe() == {"SAMPLE_LINK_SECRET": "***", "SAMPLE_LINK_KEY": "***"}
    monkeypatch.setenv("APP_ENV", "development")
    assert KeyedSettings.from_env({}).link_secret == "dev-only-sample-link-secret-0123456789abcdef"
    assert KeyedSettings.from_env({"SAMPLE_LINK_SECRET": "short"}).link_secret == "short"


@dataclass(frozen=True)
class LinkingSettings(Settings):
    public_url: str = public_url_setting()


def test_public_url_is_one_setting_without_its_trailing_slash():
    assert LinkingSettings.from_env({"PUBLIC_URL": "https://learn.example/"}).public_url == "https://learn.example"
    assert LinkingSettings.from_env({}).public_url == "http://127.0.0.1:8000"


# ---- timed RPC --------------------------------------------------------------


class Slow:
    name = "kitslow"

    @nameko_rpc
    def wait(self, seconds):
        time.sleep(seconds)
        return "late" if seconds else "now"


class Caller:
    name = "kitcaller"
    slow = ServiceRpc("kitslow", timeout=0.3)
    absent = ServiceRpc("kitabsent")
    settings = ServiceSettings(SampleSettings, environ={"SAMPLE_SECRET": "s", "SAMPLE_PORT": "7"})

    @nameko_rpc
    def call(self, seconds):
        try:
            return self.slow.wait(seconds)
        except AppError as exc:
            return exc.code

    @nameko_rpc
    def call_long(self, seconds):
        return self.slow.with_timeout(5).wait(seconds)

    @nameko_rpc
    def call_absent(self):
        try:
            return self.absent.anything()
        except AppError as exc:
            return exc.code

    @nameko_rpc
    def port(self):
        return self.settings.port


def test_a_late_rpc_is_service_unavailable_within_its_deadline(container_factory, rabbit_config):
    container_factory(Slow, rabbit_config).start()
    container_factory(Caller, rabbit_config).start()
    with ServiceRpcProxy("kitcaller", rabbit_config) as caller:
        assert caller.call(0) == "now"
        started = time.monotonic()
        assert caller.call(1.5) == ErrorCode.SERVICE_UNAVAILABLE
        assert time.monotonic() - started < 1.2
        assert caller.call_long(0.5) == "late"
        assert caller.call_absent() == ErrorCode.SERVICE_UNAVAILABLE
        assert caller.port() == 7  # settings built in the container's setup


@dataclass(frozen=True)
class TickSettings(Settings):
    tick_seconds: float = setting("KIT_TICK_SECONDS", 60.0)


class Ticking:
    name = "kitticking"

    @settings_timer(TickSettings, lambda settings: settings.tick_seconds)
    def tick(self):
        pass


def test_a_settings_timer_reads_its_interval_when_the_service_starts(container_factory, rabbit_config, monkeypatch):
    monkeypatch.setenv("KIT_TICK_SECONDS", "2.5")
    container = container_factory(Ticking, rabbit_config)
    container.start()
    (entrypoint,) = [e for e in container.entrypoints if e.method_name == "tick"]
    assert entrypoint.interval == 2.5


def test_settings_errors_stop_the_container_start(container_factory, rabbit_config):
    class Misconfigured:
        name = "kitmisconfigured"
        settings = ServiceSettings(SampleSettings, environ={})

        @nameko_rpc
        def ping(self):
            return "pong"

    container = container_factory(Misconfigured, rabbit_config)
    with pytest.raises(ConfigError, match="SAMPLE_SECRET"):
        container.start()
