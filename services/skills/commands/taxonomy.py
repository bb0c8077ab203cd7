"""Loading the skills taxonomy from a file (docs/skills.md, "Taxonomy file").

Format (JSON, UTF-8):

    {"domains": [{"name", "description"?}, ...],
     "skills": [{"id", "name", "domain", "definition", "sub_skills": [..]}, ...],
     "courses": [{"id", "name", "skills": [{"skill_id", "relevance": (0, 1], "level": LEVEL}, ...]}, ...],
     (LEVEL: BEGINNER, INTERMEDIATE or ADVANCED: the level the course teaches the skill at)
     "specializations": [{"id", "course_ids": [...]}]}

The whole file is validated first (nothing is loaded if any entry is wrong);
then domains and skills are upserted by id (name), and each listed course's
tags and each listed specialization's courses are replaced by the file's.
Ratings follow the tags: after changing tags run `recompute`."""
from pathlib import Path

from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert

from contracts.errors import invalid
from servicekit.db import UnitOfWork
from servicekit.standalone import read_json_file
from services.skills.models import CourseSkill, Domain, Skill, SpecializationCourse, TaxonomyCourse

DEMO_TAXONOMY = Path(__file__).parent.parent / "taxonomy" / "demo_taxonomy.json"
LEVELS = ("BEGINNER", "INTERMEDIATE", "ADVANCED")
ID = validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$")


class DomainEntry(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class SkillEntry(Schema):
    id = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9-]{1,100}$"))
    name = fields.String(required=True, validate=validate.Length(1, 200))
    domain = fields.String(required=True, validate=validate.Length(1, 100))
    definition = fields.String(required=True, validate=validate.Length(1, 4000))
    sub_skills = fields.List(fields.String(validate=validate.Length(1, 200)), load_default=list)


class Tag(Schema):
    skill_id = fields.String(required=True)
    relevance = fields.Float(required=True, validate=validate.Range(0, 1, min_inclusive=False))
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))


class CourseEntry(Schema):
    id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=validate.Length(1, 200))
    skills = fields.List(fields.Nested(Tag), required=True)


class SpecializationEntry(Schema):
    id = fields.String(required=True, validate=ID)
    course_ids = fields.List(fields.String(validate=ID), required=True)


class TaxonomyFile(Schema):
    domains = fields.List(fields.Nested(DomainEntry), load_default=list)
    skills = fields.List(fields.Nested(SkillEntry), load_default=list)
    courses = fields.List(fields.Nested(CourseEntry), load_default=list)
    specializations = fields.List(fields.Nested(SpecializationEntry), load_default=list)


def load_taxonomy(uow: UnitOfWork, data) -> dict:
    try:
        taxonomy = TaxonomyFile().load(data if isinstance(data, dict) else {"_": data})
    except ValidationError as exc:
        raise invalid(exc.messages, "the taxonomy file has invalid entries") from None
    domains = {d["name"] for d in taxonomy["domains"]} | {
        name for (name,) in uow.session.execute(Domain.__table__.select().with_only_columns(Domain.name))}
    skills = {s["id"] for s in taxonomy["skills"]} | {
        sid for (sid,) in uow.session.execute(Skill.__table__.select().with_only_columns(Skill.id))}
    problems = {}
    for s in taxonomy["skills"]:
        if s["domain"] not in domains:
            problems.setdefault("skills", []).append(f"{s['id']}: unknown domain {s['domain']!r}")
    for c in taxonomy["courses"]:
        unknown = sorted({t["skill_id"] for t in c["skills"]} - skills)
        if unknown:
            problems.setdefault("courses", []).append(f"{c['id']}: unknown skills {unknown}")
    if len({s["name"] for s in taxonomy["skills"]}) != len(taxonomy["skills"]):
        problems.setdefault("skills", []).append("skill names must be unique")
    if problems:
        raise invalid(problems, "the taxonomy file has invalid entries")
    for d in taxonomy["domains"]:
        statement = insert(Domain).values(**d)
        uow.session.execute(statement.on_conflict_do_update(index_elements=["name"],
                                                            set_={"description": statement.excluded.description}))
    for s in taxonomy["skills"]:
        statement = insert(Skill).values(**s)
        uow.session.execute(statement.on_conflict_do_update(
            index_elements=["id"], set_={k: statement.excluded[k] for k in s if k != "id"}))
    for c in taxonomy["courses"]:
        statement = insert(TaxonomyCourse).values(id=c["id"], name=c["name"])
        uow.session.execute(statement.on_conflict_do_update(index_elements=["id"],
                                                            set_={"name": statement.excluded.name}))
        uow.session.execute(delete(CourseSkill).where(CourseSkill.course_id == c["id"]))
        if c["skills"]:
            uow.session.execute(insert(CourseSkill).values([{"course_id": c["id"], **t} for t in c["skills"]]))
    for sp in taxonomy["specializations"]:
        uow.session.execute(delete(SpecializationCourse).where(SpecializationCourse.specialization_id == sp["id"]))
        if sp["course_ids"]:
            uow.session.execute(insert(SpecializationCourse).values(
                [{"specialization_id": sp["id"], "course_id": cid} for cid in dict.fromkeys(sp["course_ids"])]))
    return {"domains": len(taxonomy["domains"]), "skills": len(taxonomy["skills"]),
            "courses": len(taxonomy["courses"]), "specializations": len(taxonomy["specializations"])}


def load_taxonomy_file(uow: UnitOfWork, path) -> dict:
    return load_taxonomy(uow, read_json_file(path, "taxonomy"))
