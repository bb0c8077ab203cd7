"""Catalog reference data (course names, slugs, partners, item and lesson
counts, class start times; specializations' courses) from programs.

programs publishes no catalog events (its catalog is loaded from a file by
an operator), so reporting asks it by RPC (`get_courses`,
`get_specializations`) for the ids it meets and does not know yet: on a
statement, an enrollment or a curriculum change, and on a timer that also
refreshes entries older than a day (names change when a catalog is reloaded).
An entry is an upsert by id: any replica may fetch it."""
import logging
from collections.abc import Callable

from sqlalchemy import text

from servicekit.bulk import arrays, unnest
from servicekit.db import UnitOfWork
from services.reporting import home

log = logging.getLogger(__name__)


def known_courses(uow: UnitOfWork, course_ids) -> set[str]:
    ids = sorted(course_ids)
    if not ids:
        return set()
    return set(uow.session.scalars(text("SELECT course_id FROM courses WHERE course_id = ANY(CAST(:ids AS text[]))"),
                                   {"ids": ids}))


def _upsert(uow: UnitOfWork, table: str, columns: dict[str, str], rows: list[dict], values: dict | None = None) -> None:
    """Catalog entries in one statement, by their id (the first column); `values`: SQL for a column other
    than the array's value as it is. Entries fetched again replace what reporting had."""
    key = next(iter(columns))
    rows = list({row[key]: row for row in rows}.values())  # one row per id (ON CONFLICT touches a row once)
    if not rows:
        return
    names = ", ".join(columns)
    select = ", ".join((values or {}).get(name, f"v.{name}") for name in columns)
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in columns if name != key)
    uow.session.execute(text(
        f"INSERT INTO {table} ({names}, refreshed_at) SELECT {select}, now() FROM {unnest(columns)} ORDER BY v.{key} "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates}, refreshed_at = now()"), arrays(rows, columns))


COURSE_COLUMNS = {"course_id": "text", "slug": "text", "name": "text", "partner": "text", "item_count": "integer",
                  "lesson_count": "integer", "graded_item_count": "integer", "class_start_time": "timestamptz"}
SPECIALIZATION_COLUMNS = {"specialization_id": "text", "slug": "text", "name": "text", "partner": "text",
                          "course_ids": "text"}


def save_courses(uow: UnitOfWork, courses: list[dict]) -> None:
    _upsert(uow, "courses", COURSE_COLUMNS, [
        {"course_id": c["id"], "slug": c["slug"], "name": c["name"], "partner": c["partner"],
         "item_count": c.get("item_count") or 0, "lesson_count": c.get("lesson_count") or 0,
         "graded_item_count": c.get("graded_item_count") or 0, "class_start_time": c.get("class_start_time")}
        for c in courses])


def save_specializations(uow: UnitOfWork, specializations: list[dict]) -> None:
    """Upsert; a specialization new here or whose course list changed changes which courses its
    enrollments cover (the admin home's per-program figures: home.specializations_changed)."""
    ids = sorted({s["id"] for s in specializations})
    had = dict(uow.session.execute(text(
        "SELECT specialization_id, course_ids FROM specializations "
        "WHERE specialization_id = ANY(CAST(:ids AS text[]))"),
        {"ids": ids}).all()) if ids else {}
    # catalog ids never contain a comma (contracts.fields.CATALOG_ID): the course list travels as one text
    _upsert(uow, "specializations", SPECIALIZATION_COLUMNS, [
        {"specialization_id": s["id"], "slug": s["slug"], "name": s["name"], "partner": s["partner"],
         "course_ids": ",".join(s["course_ids"])} for s in specializations],
        {"course_ids": "string_to_array(v.course_ids, ',')"})
    home.specializations_changed(uow.session, sorted(
        {s["id"] for s in specializations if list(had.get(s["id"]) or []) != list(s["course_ids"])
         or s["id"] not in had}))


def ensure_courses(uow: UnitOfWork, course_ids, fetch: Callable[[list[str]], list[dict]] | None) -> set[str]:
    """The ids among `course_ids` the catalog knows, asking programs (`fetch`)
    for those not known locally yet."""
    wanted = set(course_ids)
    known = known_courses(uow, wanted)
    missing = sorted(wanted - known)
    if missing and fetch is not None:
        found = fetch(missing)
        if found:
            save_courses(uow, found)
            known |= {c["id"] for c in found}
    return known


def ensure_catalog(uow: UnitOfWork, course_ids, specialization_ids, fetch_courses, fetch_specializations) -> None:
    """Fetch what an enrollment or curriculum names and the catalog lacks; a
    failure is logged and left to the refresh timer (never fails the event)."""
    try:
        specs = sorted(set(specialization_ids or ()))
        if specs:
            have = set(uow.session.scalars(text(
                "SELECT specialization_id FROM specializations WHERE specialization_id = ANY(CAST(:ids AS text[]))"),
                {"ids": specs}))
            missing = [s for s in specs if s not in have]
            if missing:
                found = fetch_specializations(missing)
                save_specializations(uow, found)
                course_ids = set(course_ids or ()) | {c for s in found for c in s["course_ids"]}
        ensure_courses(uow, set(course_ids or ()), fetch_courses)
    except Exception as exc:  # programs late or down: the timer catches up
        log.warning("catalog fetch failed, left to the refresh timer: %s", exc)


def backfill_collections(uow: UnitOfWork, fetch_collections, limit: int = 500) -> int:
    """Collections enrollments name that reporting never saw an event of (changed before it consumed
    programs.collection.changed.v1): their names asked of programs. One programs no longer has is
    recorded nameless (deleted), so it is not asked again; a later event of it wins (changed_at epoch)."""
    ids = list(uow.session.scalars(text(
        "SELECT DISTINCT e.collection_id::text FROM enrollments e WHERE e.collection_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM collections c WHERE c.collection_id = e.collection_id) LIMIT :limit"),
        {"limit": limit}))
    if not ids:
        return 0
    found = {c["id"]: c for c in fetch_collections(ids)}
    rows = sorted(ids)
    uow.session.execute(text(
        "INSERT INTO collections (collection_id, org_id, program_id, name, deleted_at, changed_at) "
        "SELECT e.collection_id, e.org_id, e.program_id, coalesce(v.name, ''), "
        "       CASE WHEN v.name IS NULL THEN now() END, 'epoch' "
        "FROM unnest(CAST(:ids AS uuid[]), CAST(:names AS text[])) AS v(collection_id, name) "
        "JOIN LATERAL (SELECT org_id, program_id, collection_id FROM enrollments "
        "              WHERE collection_id = v.collection_id LIMIT 1) e ON true "
        "ON CONFLICT (collection_id) DO NOTHING"),
        {"ids": rows, "names": [found[i]["name"] if i in found else None for i in rows]})
    return len(found)


def refresh_catalog(uow: UnitOfWork, fetch_courses, fetch_specializations, limit: int = 500) -> dict:
    """What enrollments and statements name and the catalog lacks, plus entries
    older than a day: asked of programs again."""
    courses = list(uow.session.scalars(text(
        "SELECT id FROM (SELECT DISTINCT course_id AS id FROM enrollments WHERE course_id IS NOT NULL) e "
        "WHERE NOT EXISTS (SELECT 1 FROM courses c WHERE c.course_id = e.id) "
        "UNION SELECT course_id FROM courses WHERE refreshed_at < now() - interval '1 day' LIMIT :limit"),
        {"limit": limit}))
    specs = list(uow.session.scalars(text(
        "SELECT id FROM (SELECT DISTINCT specialization_id AS id FROM enrollments "
        "WHERE specialization_id IS NOT NULL) e "
        "WHERE NOT EXISTS (SELECT 1 FROM specializations s WHERE s.specialization_id = e.id) "
        "UNION SELECT specialization_id FROM specializations WHERE refreshed_at < now() - interval '1 day' "
        "LIMIT :limit"), {"limit": limit}))
    found_specs = fetch_specializations(specs) if specs else []
    save_specializations(uow, found_specs)
    wanted = set(courses) | {c for s in found_specs for c in s["course_ids"]}
    found = fetch_courses(sorted(wanted)) if wanted else []
    save_courses(uow, found)
    return {"courses": len(found), "specializations": len(found_specs)}
