"""What skills keeps of other services' facts (from their events): an
organization's reference-group fields and leaderboard setting, people's names,
program members, and each program's courses. Events may arrive out of order:
an organization or a curriculum keeps the newest event's state (`as_of`)."""
from datetime import datetime

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert

from servicekit.db import UnitOfWork
from servicekit.models import parse_uuid
from services.skills.models import Org, Person, ProgramCourse, ProgramCurriculum, ProgramMember, SpecializationCourse

ORG_FIELDS = ("region", "company_size", "industry", "anonymize_leaderboard")


def _clean(value, most: int):
    if not isinstance(value, str) or not value or "\x00" in value:
        return None
    return value[:most]


def apply_org(uow: UnitOfWork, org_id: str, settings: dict, as_of: datetime) -> None:
    org_id = parse_uuid(org_id)
    if org_id is None:
        return
    values = {"region": _clean(settings.get("region"), 40), "company_size": _clean(settings.get("company_size"), 20),
              "industry": _clean(settings.get("industry"), 100),
              "anonymize_leaderboard": bool(settings.get("anonymize_leaderboard") or False)}
    present = {k: v for k, v in values.items() if k in settings}
    statement = insert(Org).values(org_id=org_id, as_of=as_of, **present)
    uow.session.execute(statement.on_conflict_do_update(
        index_elements=["org_id"], set_={**{k: statement.excluded[k] for k in present}, "as_of": as_of},
        where=(Org.as_of.is_(None) | (Org.as_of < as_of))))


def remember_people(uow: UnitOfWork, org_id: str, people: list[dict]) -> None:
    org_id = parse_uuid(org_id)
    rows = {}
    for p in people:
        user_id = _clean(p.get("user_id"), 64)
        if org_id and user_id:
            rows[user_id] = {"org_id": org_id, "user_id": user_id, "full_name": _clean(p.get("full_name"), 500),
                             "email": _clean(p.get("email"), 500)}
    if not rows:
        return
    statement = insert(Person).values([rows[k] for k in sorted(rows)])
    uow.session.execute(statement.on_conflict_do_update(
        index_elements=["org_id", "user_id"],
        set_={"full_name": text("coalesce(EXCLUDED.full_name, people.full_name)"),
              "email": text("coalesce(EXCLUDED.email, people.email)")}))


def member_joined(uow: UnitOfWork, payload: dict) -> None:
    org_id, program_id = parse_uuid(payload.get("org_id")), parse_uuid(payload.get("program_id"))
    user_id = _clean(payload.get("user_id"), 64)
    if not (org_id and program_id and user_id):
        return
    uow.session.execute(insert(ProgramMember).values(program_id=program_id, user_id=user_id, org_id=org_id)
                        .on_conflict_do_nothing())
    if payload.get("email") or payload.get("full_name"):
        remember_people(uow, org_id, [payload])


def member_removed(uow: UnitOfWork, payload: dict) -> None:
    program_id, user_id = parse_uuid(payload.get("program_id")), _clean(payload.get("user_id"), 64)
    if program_id and user_id:
        uow.session.execute(delete(ProgramMember).where(ProgramMember.program_id == program_id,
                                                        ProgramMember.user_id == user_id))


def curriculum_changed(uow: UnitOfWork, payload: dict, as_of: datetime, removed: bool = False) -> None:
    """A program's whole curriculum (its courses, and its specializations' courses)."""
    org_id, program_id = parse_uuid(payload.get("org_id")), parse_uuid(payload.get("program_id"))
    if not (org_id and program_id):
        return
    statement = insert(ProgramCurriculum).values(program_id=program_id, org_id=org_id, as_of=as_of, removed=removed)
    applied = uow.session.execute(statement.on_conflict_do_update(
        index_elements=["program_id"], set_={"as_of": as_of, "removed": removed},
        where=(ProgramCurriculum.as_of < as_of) & ~ProgramCurriculum.removed).returning(
        ProgramCurriculum.program_id)).first()
    if applied is None:
        return  # an older event, or the program is gone
    uow.session.execute(delete(ProgramCourse).where(ProgramCourse.program_id == program_id))
    if removed:
        uow.session.execute(delete(ProgramMember).where(ProgramMember.program_id == program_id))
        return
    courses = {c for c in payload.get("course_ids") or [] if isinstance(c, str) and 0 < len(c) <= 64}
    specializations = [s for s in payload.get("specialization_ids") or [] if isinstance(s, str)]
    if specializations:
        courses |= set(uow.session.scalars(select(SpecializationCourse.course_id).where(
            SpecializationCourse.specialization_id.in_(specializations))))
    if courses:
        uow.session.execute(insert(ProgramCourse).values(
            [{"program_id": program_id, "course_id": c, "org_id": org_id} for c in sorted(courses)]))
