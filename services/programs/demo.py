"""Demo data of the programs service for `make run`: the demo catalog, and for
Acme a contract and the program "Acme Data Academy" with two collections.
Idempotent: a second run finds what the first created."""
from datetime import timedelta

from sqlalchemy import func, select

from servicekit.clock import utcnow
from servicekit.standalone import unit_of_work
from services.programs.commands import catalog, collections, contracts, programs
from services.programs.models import Collection, Contract, Course, Program, Specialization
from services.programs.settings import ProgramsSettings

PROGRAM_NAME = "Acme Data Academy"
CONTRACT_NAME = "Acme Year 1 Contract"
COLLECTIONS = [
    ("Start here: AI and data for everyone", "Short courses for every team.",
     {"course_ids": ["daG-a-O1EeijKBISCWxf6g"], "specialization_slugs": []},
     ["what-is-data-science"]),
    ("Become a data practitioner", "Python, SQL and machine learning, step by step.",
     {"course_ids": [], "specialization_slugs": ["applied-data-science-with-python", "deep-learning"]},
     ["machine-learning", "databases-and-sql-for-data-science-with-python"]),
]


def add_demo(org_id: str, database_url: str | None = None) -> dict:
    public_url = ProgramsSettings.from_env().public_url
    with unit_of_work("programs", database_url) as uow:
        catalog.load_catalog_file(uow, catalog.DEMO_CATALOG)
        contract_id = uow.session.scalar(select(Contract.id).where(Contract.org_id == org_id,
                                                                   Contract.name == CONTRACT_NAME))
        if contract_id is None:
            start = utcnow().date().replace(month=1, day=1)
            contract_id = contracts.create_contract(uow, org_id, {"name": CONTRACT_NAME, "license_count": 500,
                                                                  "starts_on": start,
                                                                  "ends_on": start + timedelta(days=729)})["id"]
        program_id = uow.session.scalar(select(Program.id).where(Program.org_id == org_id,
                                                                 Program.name == PROGRAM_NAME,
                                                                 Program.removed_at.is_(None)))
        if program_id is None:
            program_id = programs.create_program(uow, org_id, {
                "name": PROGRAM_NAME, "tagline": "Data skills for every Acme team",
                "enrollment_limit": 5, "contract_ids": [contract_id]}, public_url)["id"]
            for name, description, items, course_slugs in COLLECTIONS:
                collection = collections.create_collection(uow, org_id, program_id,
                                                           {"name": name, "description": description})
                spec_ids = list(uow.session.scalars(select(Specialization.id).where(
                    Specialization.slug.in_(items["specialization_slugs"]))))
                course_ids = items["course_ids"] + list(uow.session.scalars(select(Course.id).where(
                    Course.slug.in_(course_slugs))))
                collections.add_items(uow, org_id, collection["id"], course_ids, spec_ids)
        program = uow.session.get(Program, program_id)
        count = uow.session.scalar(select(func.count()).where(Collection.program_id == program.id))
        return {"program_id": program.id, "program_name": program.name, "slug": program.slug,
                "join_url": program.join_url(public_url), "contract_id": contract_id, "collections": count}
