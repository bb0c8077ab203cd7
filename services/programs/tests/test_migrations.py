"""programs' 0003 on a database made before it: text ids become uuid in
place, rows and foreign keys kept (real PostgreSQL, a database of its own)."""
import uuid

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from servicekit import config
from servicekit.migrations import alembic_config, drop_database, migrate

UUID_COLUMNS = {("contracts", "id"), ("contracts", "org_id"), ("programs", "id"), ("programs", "org_id"),
                ("program_contracts", "program_id"), ("program_contracts", "contract_id"),
                ("collections", "id"), ("collections", "org_id"), ("collections", "program_id"),
                ("collection_items", "id"), ("collection_items", "collection_id"),
                ("collection_items", "program_id"), ("people", "org_id"), ("memberships", "id"),
                ("memberships", "org_id"), ("memberships", "program_id"), ("memberships", "contract_id"),
                ("enrollments", "id"), ("enrollments", "org_id"), ("enrollments", "program_id"),
                ("enrollments", "membership_id"), ("enrollments", "collection_id")}


@pytest.fixture
def old_database(monkeypatch):
    url = make_url(config.database_url("programs"))
    monkeypatch.setenv("PROGRAMS_DATABASE_URL",
                       url.set(database=f"{url.database}_mig{uuid.uuid4().hex[:6]}").render_as_string(False))
    migrate("programs", "0002")
    engine = create_engine(config.database_url("programs"))
    yield engine
    engine.dispose()
    drop_database("programs")


def column_types(engine) -> dict:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT table_name, column_name, data_type FROM information_schema.columns "
                                 "WHERE table_schema = 'public'")).all()
    return {(table, column): kind for table, column, kind in rows}


def test_0003_turns_text_ids_into_uuids_keeping_rows_and_foreign_keys(old_database):
    ids = {name: str(uuid.uuid4()) for name in ("org", "contract", "program", "collection", "item", "member",
                                                 "enrollment")}
    with old_database.begin() as conn:
        conn.execute(text(
            "INSERT INTO courses (id, slug, name, partner) VALUES ('c-1', 'c-1', 'Course', 'P');"
            "INSERT INTO contracts (id, org_id, name, license_count, licenses_used, starts_on, ends_on) "
            "VALUES (:contract, :org, 'Year 1', 5, 1, '2026-01-01', '2026-12-31');"
            "INSERT INTO programs (id, org_id, name, slug) VALUES (:program, :org, 'Academy', 'program-abc123');"
            "INSERT INTO program_contracts (program_id, contract_id) VALUES (:program, :contract);"
            "INSERT INTO collections (id, org_id, program_id, name, position) VALUES (:collection, :org, :program, "
            "'Core', 1);"
            "INSERT INTO collection_items (id, collection_id, program_id, kind, course_id, position) "
            "VALUES (:item, :collection, :program, 'COURSE', 'c-1', 1);"
            "INSERT INTO people (org_id, user_id, email, full_name) VALUES (:org, 'user-1', 'a@x.org', 'A');"
            "INSERT INTO memberships (id, org_id, program_id, user_id, state, contract_id, invitation_id) "
            "VALUES (:member, :org, :program, 'user-1', 'MEMBER', :contract, 'inv-1');"
            "INSERT INTO enrollments (id, org_id, program_id, membership_id, user_id, kind, course_id, collection_id) "
            "VALUES (:enrollment, :org, :program, :member, 'user-1', 'COURSE', 'c-1', :collection)"), ids)
    before = column_types(old_database)
    assert {before[key] for key in UUID_COLUMNS} == {"character varying"}

    migrate("programs")
    after = column_types(old_database)
    assert {after[key] for key in UUID_COLUMNS} == {"uuid"}
    assert after[("memberships", "user_id")] == after[("memberships", "invitation_id")] == "character varying"
    with old_database.connect() as conn:
        kept = conn.execute(text(
            "SELECT e.id::text, m.id::text, p.id::text, c.id::text, i.id::text, k.id::text, e.org_id::text "
            "FROM enrollments e JOIN memberships m ON m.id = e.membership_id JOIN programs p ON p.id = e.program_id "
            "JOIN collections c ON c.id = e.collection_id JOIN collection_items i ON i.collection_id = c.id "
            "JOIN program_contracts pc ON pc.program_id = p.id JOIN contracts k ON k.id = pc.contract_id")).one()
    assert kept == (ids["enrollment"], ids["member"], ids["program"], ids["collection"], ids["item"],
                    ids["contract"], ids["org"])
    with pytest.raises(IntegrityError), old_database.begin() as conn:  # the foreign keys are back
        conn.execute(text("INSERT INTO enrollments (id, org_id, program_id, membership_id, user_id, kind) "
                          "VALUES (gen_random_uuid(), :org, :program, gen_random_uuid(), 'u', 'COURSE')"), ids)

    command.downgrade(alembic_config("programs"), "0002")
    assert {column_types(old_database)[key] for key in UUID_COLUMNS} == {"character varying"}
