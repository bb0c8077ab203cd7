"""Helpers of reporting's service tests: a member and courses seeded straight
into reporting's projections, and statements built the native way."""
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from servicekit.standalone import unit_of_work

DAY = datetime(2026, 3, 2, tzinfo=UTC)


def at(hhmm: str, day: datetime = DAY) -> str:
    hours, minutes = map(int, hhmm.split(":"))
    return (day + timedelta(hours=hours, minutes=minutes)).isoformat().replace("+00:00", "Z")


def seed_member(org_id: str | None = None, email: str | None = None, state: str = "MEMBER") -> dict:
    org_id = org_id or str(uuid.uuid4())
    user_id, program_id = str(uuid.uuid4()), str(uuid.uuid4())
    email = email or f"{user_id[:8]}@example.com"
    with unit_of_work("reporting") as uow:
        uow.session.execute(text(
            "INSERT INTO memberships (program_id, user_id, org_id, state, email, joined_at) "
            "VALUES (:p, :u, :o, :state, :e, now())"), {"p": program_id, "u": user_id, "o": org_id, "e": email,
                                                         "state": state})
    return {"org_id": org_id, "user_id": user_id, "program_id": program_id, "email": email}


def seed_course(course_id: str, item_count: int = 4, slug: str | None = None) -> None:
    with unit_of_work("reporting") as uow:
        uow.session.execute(text(
            "INSERT INTO courses (course_id, slug, name, partner, item_count, lesson_count) "
            "VALUES (:id, :slug, :name, 'Test University', :items, 3) ON CONFLICT DO NOTHING"),
            {"id": course_id, "slug": slug or course_id.lower(), "name": f"Course {course_id}", "items": item_count})


def item(verb: str, when: str, course: str, item_id: str, lesson: str | None = None, item_type: str = "video",
         actor: dict | None = None, result: dict | None = None, sid: str | None = None) -> dict:
    statement = {"id": sid or str(uuid.uuid4()), "actor": actor, "verb": verb,
                 "object": {"type": "item", "id": item_id, "course_id": course, "item_type": item_type},
                 "timestamp": when}
    if lesson:
        statement["object"]["lesson_id"] = lesson
    if result:
        statement["result"] = result
    return statement


def course_statement(verb: str, when: str, course: str, actor: dict) -> dict:
    return {"id": str(uuid.uuid4()), "actor": actor, "verb": verb, "object": {"type": "course", "id": course},
            "timestamp": when}
