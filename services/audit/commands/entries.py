"""Appending to an organization's chain: one entry per (event, organization),
sealed with the hash of the entry before it. Appends of one organization are
serialized by a row lock on its head (audit_heads ... FOR UPDATE), so two
workers or replicas never chain two entries to the same predecessor."""
import uuid

from sqlalchemy import select, text

from contracts.envelope import Envelope
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from servicekit.models import parse_uuid
from services.audit.actions import Draft, actors_named, drafts_of
from services.audit.models import PLATFORM_ORG, AuditActor, AuditEntry, AuditHead


def lock_head(uow: UnitOfWork, org_id: str) -> AuditHead:
    """The head of the organization's chain, locked for this transaction."""
    uow.session.execute(text("INSERT INTO audit_heads (org_id) VALUES (:org) ON CONFLICT DO NOTHING"),
                        {"org": org_id})
    return uow.session.scalars(select(AuditHead).where(AuditHead.org_id == org_id)
                               .with_for_update().execution_options(populate_existing=True)).one()


def record_event(uow: UnitOfWork, event: Envelope) -> list[AuditEntry]:
    """The entries an event makes (actions.py), appended to their chains.
    An entry already recorded for this event and organization (a redelivery,
    even after kit_processed_events forgot it) is not appended again."""
    remember_actors(uow, event)
    drafts = drafts_of(event)
    # one organization at a time, in a fixed order: no deadlock between events of several
    by_org: dict[str, Draft] = {}
    for draft in drafts:
        by_org.setdefault(parse_uuid(draft.org_id) or PLATFORM_ORG, draft)
    return [entry for org_id in sorted(by_org) if (entry := append(uow, org_id, event, by_org[org_id]))]


def remember_actors(uow: UnitOfWork, event: Envelope) -> None:
    """Labels of the people and tokens the event names (the latest wins)."""
    named = {(kind, storable(actor_id)): storable(label[:320]) for kind, actor_id, label in actors_named(event)}
    for (kind, actor_id), label in sorted(named.items()):
        uow.session.execute(text(
            "INSERT INTO audit_actors (kind, id, label) VALUES (:kind, :id, :label) "
            "ON CONFLICT (kind, id) DO UPDATE SET label = EXCLUDED.label, updated_at = now() "
            "WHERE audit_actors.label IS DISTINCT FROM EXCLUDED.label"), {"kind": kind, "id": actor_id[:64],
                                                                          "label": label})


def actor_label(uow: UnitOfWork, kind: str | None, actor_id: str | None) -> str | None:
    if not kind or not actor_id:
        return None
    found = uow.session.get(AuditActor, (kind, str(actor_id)[:64]))
    return found.label if found else None


def append(uow: UnitOfWork, org_id: str, event: Envelope, draft: Draft) -> AuditEntry | None:
    head = lock_head(uow, org_id)
    exists = uow.session.execute(
        select(AuditEntry.id).where(AuditEntry.event_id == event.id, AuditEntry.org_id == org_id)).first()
    if exists:
        return None
    actor = event.actor or {}
    kind, actor_id, label = actor.get("kind"), actor.get("id"), None
    if not kind and draft.actor_kind:
        kind, actor_id, label = draft.actor_kind, draft.actor_id, draft.actor_label
    elif kind and draft.actor_kind == kind and draft.actor_id == actor_id:
        label = draft.actor_label
    if label is None:
        label = actor_label(uow, kind, actor_id)
    entry = AuditEntry(
        id=_entry_id(event.id, org_id), org_id=org_id, seq=head.last_seq + 1, event_id=event.id,
        event_type=event.type, action=draft.action, occurred_at=event.occurred_at, recorded_at=utcnow(),
        actor_kind=kind or "system", actor_id=_clip(actor_id, 64), actor_label=_clip(label, 320),
        target_type=draft.target_type, target_id=_clip(draft.target_id, 200), target_label=storable(draft.target_label),
        program_id=parse_uuid(draft.program_id), changes=storable(draft.changes), details=storable(draft.details),
        request_id=_clip(event.correlation_id, 128), client_address=_clip(event.client_address, 64))
    entry.seal(head.last_hash)
    uow.session.add(entry)
    head.last_seq, head.last_hash, head.updated_at = entry.seq, entry.hash, entry.recorded_at
    uow.session.flush()
    return entry


def storable(value):
    """Text PostgreSQL can keep (no NUL, no lone surrogate), in nested values
    too: an event is recorded whole, never parked for one odd character."""
    if isinstance(value, str):
        if "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value):
            return "".join("\ufffd" if ch == "\x00" or "\ud800" <= ch <= "\udfff" else ch for ch in value)
        return value
    if isinstance(value, dict):
        return {storable(str(key)): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value


def _entry_id(event_id: str, org_id: str) -> str:
    """A stable id per (event, organization): the same entry whoever records it."""
    return str(uuid.uuid5(uuid.UUID(event_id), org_id))


def _clip(value, length: int):
    return None if value is None else storable(str(value)[:length])
