"""Demo data of the programs service for `make run`: the demo catalog, and for
Acme a contract and the program "Acme Data Academy" with two collections.
Idempotent: a second run finds what the first created."""
from datetime import date, timedelta

from sqlalchemy import func, select

from servicekit.standalone import unit_of_work
from services.programs import catalog, domain
from services.programs.models import Collection, Contract, Course, Program, Specialization

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
    with unit_of_work("programs", database_url) as uow:
        catalog.load_catalog_file(uow, catalog.DEMO_CATALOG)
        contract = uow.session.scalar(select(Contract).where(Contract.org_id == org_id,
                                                             Contract.name == CONTRACT_NAME))
        if contract is None:
            start = date.today().replace(month=1, day=1)
            contract = domain.create_contract(uow, org_id, {"name": CONTRACT_NAME, "license_count": 500,
                                                            "starts_on": start,
                                                            "ends_on": start + timedelta(days=729)})
        program = uow.session.scalar(select(Program).where(Program.org_id == org_id, Program.name == PROGRAM_NAME,
                                                           Program.removed_at.is_(None)))
        if program is None:
            program = domain.create_program(uow, org_id, {
                "name": PROGRAM_NAME, "tagline": "Data skills for every Acme team",
                "enrollment_limit": 5, "contract_ids": [contract.id]})
            for name, description, items, course_slugs in COLLECTIONS:
                collection = domain.create_collection(uow, org_id, program.id,
                                                      {"name": name, "description": description})
                spec_ids = list(uow.session.scalars(select(Specialization.id).where(
                    Specialization.slug.in_(items["specialization_slugs"]))))
                course_ids = items["course_ids"] + list(uow.session.scalars(select(Course.id).where(
                    Course.slug.in_(course_slugs))))
                domain.add_items(uow, org_id, collection["id"], course_ids, spec_ids)
        collections = uow.session.scalar(select(func.count()).where(Collection.program_id == program.id))
        return {"program_id": program.id, "program_name": program.name, "slug": program.slug,
                "join_url": domain.join_url(program.slug), "contract_id": contract.id, "collections": collections}
