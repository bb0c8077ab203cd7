"""Helpers of audit's tests: events as the other services publish them."""
import uuid
from datetime import date, timedelta

from sqlalchemy import create_engine, text

from contracts.envelope import Envelope, make_envelope
from contracts.programs import CONTRACT_UPDATED, PROGRAM_CREATED, PROGRAM_UPDATED
from servicekit import config
from servicekit.standalone import unit_of_work
from services.audit.commands.entries import record_event

ADMIN = {"kind": "person", "id": str(uuid.uuid4())}


def envelope(event, payload, org_id, actor=ADMIN, client="203.0.113.7", correlation_id="req-1") -> Envelope:
    return Envelope.load(make_envelope(event, payload, source=event.source, org_id=org_id,
                                       correlation_id=correlation_id, actor=actor, client_address=client))


def program_created(org_id, name="Academy", program_id=None, **kw) -> Envelope:
    program_id = program_id or str(uuid.uuid4())
    return envelope(PROGRAM_CREATED, {"program_id": program_id, "org_id": org_id, "name": name, "slug": "academy",
                                      "tagline": None, "join_url": "http://x/j", "contract_ids": [],
                                      "enrollment_limit": None}, org_id, **kw)


def program_updated(org_id, program_id, before, after, **kw) -> Envelope:
    return envelope(PROGRAM_UPDATED, {"program_id": program_id, "org_id": org_id, "name": after, "slug": "academy",
                                      "tagline": None, "join_url": "http://x/j", "contract_ids": [],
                                      "enrollment_limit": None, "changed": ["name"],
                                      "previous": {"name": before}}, org_id, **kw)


def contract_updated(org_id, name="=HYPERLINK(\"http://evil\")", **kw) -> Envelope:
    return envelope(CONTRACT_UPDATED, {"contract_id": str(uuid.uuid4()), "org_id": org_id, "name": name,
                                       "license_count": 5, "starts_on": str(date.today()),
                                       "ends_on": str(date.today() + timedelta(days=1))}, org_id, **kw)


def record(*events):
    with unit_of_work("audit") as uow:
        return [[e.id for e in record_event(uow, event)] for event in events]


def sql(statement, **params):
    engine = create_engine(config.database_url("audit"))
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return result.all() if result.returns_rows else result.rowcount
    finally:
        engine.dispose()


def tamper(statement, **params):
    """Change the log behind the trigger's back, as a database owner could
    (session_replication_role=replica skips triggers)."""
    engine = create_engine(config.database_url("audit"))
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(statement), params)
    finally:
        engine.dispose()
