"""skills' consumers of other services' events, one function per event (the
`@handle_event` entrypoints in service.py call exactly one of them)."""
import logging

from contracts.envelope import Envelope
from servicekit.db import UnitOfWork
from services.skills.commands import projections, ratings
from services.skills.settings import SkillsSettings

log = logging.getLogger(__name__)


def on_attempts_graded(uow: UnitOfWork, event: Envelope, settings: SkillsSettings) -> None:
    counts = ratings.record_attempts(uow, event.payload["attempts"], settings)
    if counts["refused"]:
        log.warning("%d graded attempt(s) of event %s cannot count (bad org id, score or ids)",
                    counts["refused"], event.id)


def on_learning_hours_updated(uow: UnitOfWork, event: Envelope) -> None:
    ratings.record_hours(uow, event.payload["hours"])


def on_org_created(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    projections.apply_org(uow, p["org_id"], p.get("settings") or {}, event.occurred_at)


def on_org_updated(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    projections.apply_org(uow, p["org_id"], p["settings"], event.occurred_at)


def on_profile_updated(uow: UnitOfWork, event: Envelope) -> None:
    projections.remember_people(uow, event.payload["org_id"], [event.payload])


def on_profiles_updated(uow: UnitOfWork, event: Envelope) -> None:
    projections.remember_people(uow, event.payload["org_id"], event.payload["people"])


def on_member_joined(uow: UnitOfWork, event: Envelope) -> None:
    projections.member_joined(uow, event.payload)


def on_member_removed(uow: UnitOfWork, event: Envelope) -> None:
    projections.member_removed(uow, event.payload)


def on_curriculum_changed(uow: UnitOfWork, event: Envelope) -> None:
    projections.curriculum_changed(uow, event.payload, event.occurred_at)


def on_program_removed(uow: UnitOfWork, event: Envelope) -> None:
    projections.curriculum_changed(uow, event.payload, event.occurred_at, removed=True)
