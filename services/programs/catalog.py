"""The course catalog: search, lookups, and the loader of catalog files.

Catalog file format (JSON, UTF-8), see docs/programs.md:

    {"courses": [{"id", "slug", "name", "partner", "domain"?, "description"?, "item_count"?,
                  "lesson_count"?, "graded_item_count"?, "estimated_hours"?, "class_start_time"?}, ...],
     "specializations": [{"id", "slug", "name", "partner", "domain"?, "description"?,
                          "course_ids": [ordered course ids]}, ...]}

Loading upserts by id: a file can be loaded again after edits."""
import json
from pathlib import Path

from marshmallow import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert

from contracts.errors import invalid
from contracts.programs import CourseSchema, SpecializationSchema
from services.programs.models import Course, Specialization
from services.programs.pages import keyset_page

DEMO_CATALOG = Path(__file__).with_name("catalog") / "demo_catalog.json"
COURSE_FIELDS = tuple(CourseSchema().fields)
SPECIALIZATION_FIELDS = tuple(SpecializationSchema().fields)


def course_view(course: Course) -> dict:
    return {name: getattr(course, name) for name in COURSE_FIELDS}


def specialization_view(spec: Specialization) -> dict:
    return {name: (list(getattr(spec, name)) if name == "course_ids" else getattr(spec, name))
            for name in SPECIALIZATION_FIELDS}


def _search(query, model, q: str | None):
    if q and q.strip():
        pattern = f"%{q.strip().lower()}%"
        query = query.where(or_(model.name.ilike(pattern), model.slug.ilike(pattern), model.partner.ilike(pattern)))
    return query


def search_courses(uow, q: str | None, limit: int, cursor: str | None) -> dict:
    rows, next_cursor = keyset_page(uow.session, _search(select(Course), Course, q), [Course.name, Course.id],
                                    cursor, limit, lambda row: (row[0].name, row[0].id))
    return {"items": [course_view(row[0]) for row in rows], "next_cursor": next_cursor}


def search_specializations(uow, q: str | None, limit: int, cursor: str | None) -> dict:
    query = _search(select(Specialization), Specialization, q)
    rows, next_cursor = keyset_page(uow.session, query, [Specialization.name, Specialization.id], cursor, limit,
                                    lambda row: (row[0].name, row[0].id))
    return {"items": [specialization_view(row[0]) for row in rows], "next_cursor": next_cursor}


def courses_by_id(uow, ids) -> dict[str, Course]:
    ids = list({str(i) for i in ids})
    if not ids:
        return {}
    return {c.id: c for c in uow.session.scalars(select(Course).where(Course.id.in_(ids)))}


def specializations_by_id(uow, ids) -> dict[str, Specialization]:
    ids = list({str(i) for i in ids})
    if not ids:
        return {}
    return {s.id: s for s in uow.session.scalars(select(Specialization).where(Specialization.id.in_(ids)))}


def load_catalog(uow, data: dict) -> dict:
    """Validate the whole file first (nothing is loaded if any entry is wrong),
    then upsert courses and specializations by id."""
    if not isinstance(data, dict):
        raise invalid({"_schema": ["the catalog must be an object with courses and specializations"]})
    try:
        courses = CourseSchema(many=True).load(data.get("courses") or [])
        specializations = SpecializationSchema(many=True).load(data.get("specializations") or [])
    except ValidationError as exc:
        raise invalid(exc.messages, "the catalog file has invalid entries") from None
    known = {c["id"] for c in courses} | set(courses_by_id(uow, [cid for s in specializations
                                                                    for cid in s["course_ids"]]))
    unknown = sorted({cid for s in specializations for cid in s["course_ids"]} - known)
    if unknown:
        raise invalid({"specializations": [f"unknown course ids: {unknown}"]})
    for table, rows in ((Course, courses), (Specialization, specializations)):
        for row in rows:
            statement = insert(table).values(**row)
            uow.session.execute(statement.on_conflict_do_update(
                index_elements=["id"], set_={k: statement.excluded[k] for k in row if k != "id"}))
    return {"courses": len(courses), "specializations": len(specializations)}


def load_catalog_file(uow, path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise invalid({"file": [str(exc)]}, "cannot read the catalog file") from None
    return load_catalog(uow, data)
