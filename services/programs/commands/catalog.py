"""Loading the course catalog (courses and specializations) from a file.

Catalog file format (JSON, UTF-8), see docs/programs.md:

    {"courses": [{"id", "slug", "name", "partner", "domain"?, "description"?, "item_count"?,
                  "lesson_count"?, "graded_item_count"?, "estimated_hours"?, "class_start_time"?}, ...],
     "specializations": [{"id", "slug", "name", "partner", "domain"?, "description"?,
                          "course_ids": [ordered course ids]}, ...]}

Loading upserts by id: a file can be loaded again after edits."""
from pathlib import Path

from marshmallow import ValidationError
from sqlalchemy.dialects.postgresql import insert

from contracts.errors import invalid
from contracts.programs import CourseSchema, SpecializationSchema
from servicekit.db import UnitOfWork
from servicekit.standalone import read_json_file
from services.programs.models import Course, Specialization
from services.programs.queries import courses_by_id

DEMO_CATALOG = Path(__file__).parent.parent / "catalog" / "demo_catalog.json"


def load_catalog(uow: UnitOfWork, data: dict) -> dict:
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


def load_catalog_file(uow: UnitOfWork, path) -> dict:
    return load_catalog(uow, read_json_file(path, "catalog"))
