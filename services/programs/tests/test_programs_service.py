"""programs through its RPC interface, in a nameko container, on the real
PostgreSQL and RabbitMQ; plus the catalog loader and pure helpers."""
import json
import uuid

import pytest

from contracts.errors import AppError
from servicekit import pagination as pages
from servicekit.standalone import unit_of_work
from services.programs import models
from services.programs.commands import catalog
from services.programs.tests.support import scalar, setup_program
from tests.support.answers import answers

# ---------------------------------------------------------------- catalog


def test_demo_catalog_is_big_enough_and_consistent():
    data = json.loads(catalog.DEMO_CATALOG.read_text())
    courses, specs = data["courses"], data["specializations"]
    assert len(courses) >= 60 and len(specs) >= 10
    assert {c["domain"] for c in courses} == {"Business", "Technology", "Data Science"}
    ids = {c["id"] for c in courses}
    assert len(ids) == len(courses) and len({c["slug"] for c in courses}) == len(courses)
    assert all(set(s["course_ids"]) <= ids for s in specs)
    assert all(len({next(c["partner"] for c in courses if c["id"] == cid) for cid in s["course_ids"]}) == 1
               for s in specs), "a specialization's courses come from one partner"


def test_catalog_loader_validates_everything_before_loading(service_databases, tmp_path):
    course = {"id": "zz-course-1", "slug": "zz-course", "name": "ZZ Course", "partner": "ZZ University"}
    with unit_of_work("programs") as uow:
        with pytest.raises(AppError) as bad:
            catalog.load_catalog(uow, {"courses": [course, {**course, "id": "bad id!", "slug": "Bad Slug"}]})
        assert bad.value.code == "INVALID_INPUT" and bad.value.details
        with pytest.raises(AppError) as unknown:
            catalog.load_catalog(uow, {"specializations": [{"id": "zz-spec", "slug": "zz-spec", "name": "S",
                                                            "partner": "P", "course_ids": ["nope"]}]})
        assert "unknown course ids" in str(unknown.value.details)
    assert scalar("SELECT count(*) FROM courses WHERE id = 'zz-course-1'") == 0
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"courses": [course]}), encoding="utf-8")
    with unit_of_work("programs") as uow:
        assert catalog.load_catalog_file(uow, path) == {"courses": 1, "specializations": 0}
    path.write_text(json.dumps({"courses": [{**course, "name": "ZZ Course, 2nd edition"}]}))
    with unit_of_work("programs") as uow:
        catalog.load_catalog_file(uow, path)  # loading again updates by id
    assert scalar("SELECT name FROM courses WHERE id = 'zz-course-1'") == "ZZ Course, 2nd edition"
    path.write_text("{not json")
    with unit_of_work("programs") as uow, pytest.raises(AppError):
        catalog.load_catalog_file(uow, path)


def test_load_catalog_command(service_databases, capsys):
    from services.programs import cli

    cli.main(["load-catalog", str(catalog.DEMO_CATALOG)])
    assert "loaded 71 courses and 11 specializations" in capsys.readouterr().out


# ---------------------------------------------------------------- RPC


def test_rpc_input_that_breaks_the_contract_is_a_clear_refusal(programs):
    org_id = str(uuid.uuid4())
    with pytest.raises(AppError) as bad:
        programs.create_contract(org_id, {"name": "X", "license_count": -5, "starts_on": "2026-01-01",
                                          "ends_on": "2025-01-01"})
    assert bad.value.code == "INVALID_INPUT"
    assert set(bad.value.details) >= {"license_count"}
    with pytest.raises(AppError) as page:
        programs.search_courses(None, 0, None)
    assert page.value.code == "INVALID_INPUT"
    with pytest.raises(AppError) as missing:
        programs.locate_program("not-a-uuid")
    assert missing.value.code == "NOT_FOUND"


def test_join_without_a_known_person_still_joins(programs):
    """identity is not running here: the join must not depend on it."""
    org_id, contract, program = setup_program(programs)
    member = programs.join_program(org_id, program["id"], str(uuid.uuid4()), contract["id"], "inv-1")
    assert member["state"] == "MEMBER" and member["email"] is None


def test_concurrent_joins_against_the_last_licenses(programs):
    org_id, contract, program = setup_program(programs, licenses=10)
    calls = [programs.join_program.call_async(org_id, program["id"], f"user-{n}", contract["id"], f"inv-{n}",
                                              email=f"u{n}@example.com", full_name=f"U {n}") for n in range(50)]
    outcomes = answers(calls, ok="joined")
    assert outcomes.count("joined") == 10 and outcomes.count("LICENSE_LIMIT_REACHED") == 40
    assert scalar("SELECT licenses_used FROM contracts WHERE id = :id", id=contract["id"]) == 10
    assert scalar("SELECT count(*) FROM memberships WHERE program_id = :p AND state = 'MEMBER'",
                  p=program["id"]) == 10


def test_concurrent_enrollments_respect_the_limit(programs):
    org_id, contract, program = setup_program(programs, limit=2)
    courses = programs.search_courses("python", 10, None)["items"]
    collection = programs.create_collection(org_id, program["id"], {"name": "Python"})
    programs.add_collection_items(org_id, collection["id"], [c["id"] for c in courses], [])
    programs.join_program(org_id, program["id"], "learner", contract["id"], "inv", email="l@example.com",
                          full_name="L")
    calls = [programs.enroll.call_async(org_id, program["id"], "learner", {"kind": "COURSE", "item_id": c["id"]})
             for c in courses]
    outcomes = answers(calls, ok=lambda enrollment: enrollment["created"])
    assert outcomes.count(True) == 2 and outcomes.count("ENROLLMENT_LIMIT_REACHED") == len(courses) - 2


def test_members_pages_are_keyset_and_stable(programs):
    org_id, contract, program = setup_program(programs, licenses=100)
    for n in range(25):
        programs.join_program(org_id, program["id"], f"u{n}", contract["id"], None, email=f"p{n:02d}@example.com",
                              full_name=f"Person {n % 5} {n:02d}")
    seen, cursor = [], None
    while True:
        page = programs.list_members(org_id, program["id"], {"limit": 7, "cursor": cursor})
        seen += [(m["full_name"].lower(), m["membership_id"]) for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 25 and seen == sorted(seen)
    found = programs.list_members(org_id, program["id"], {"q": "p07@"})["items"]
    assert [m["email"] for m in found] == ["p07@example.com"]
    assert programs.list_members(org_id, program["id"], {"q": "100%_"})["items"] == []
    with pytest.raises(AppError):
        programs.list_members(str(uuid.uuid4()), program["id"], {})


# ---------------------------------------------------------------- pure helpers


def test_cursor_round_trip_and_garbage():
    cursor = pages.encode_cursor(["ada lovelace", "3f2a"])
    assert list(pages.decode_cursor(cursor, 2)) == ["ada lovelace", "3f2a"]
    for garbage in ("%%%", pages.encode_cursor(["only one"]), pages.encode_cursor([1, 2]), "e30"):
        with pytest.raises(AppError) as bad:
            pages.decode_cursor(garbage, 2)
        assert bad.value.code == "INVALID_INPUT"
    assert pages.decode_cursor(None, 2) is None


def test_move_renumbers_positions():
    class Row:
        def __init__(self, name):
            self.name, self.position = name, 0

    rows = [Row(n) for n in "abcd"]
    models.place_at(rows, rows[3], 1)
    assert [r.name for r in sorted(rows, key=lambda r: r.position)] == list("dabc")
    models.place_at(rows, rows[3], 99)
    assert [r.name for r in sorted(rows, key=lambda r: r.position)] == list("abcd")


def test_slugs_look_like_the_guide():
    import re

    assert all(re.fullmatch(r"program-[0-9a-z]{6}", models.Program.new_slug()) for _ in range(100))
