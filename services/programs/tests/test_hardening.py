"""Bad input and races at programs' RPC boundary (issue 10): whatever a
caller sends, the answer is a result or an AppError with a stable code,
never an unexpected error."""
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from contracts.errors import AppError
from servicekit import config
from servicekit.pagination import encode_cursor
from servicekit.standalone import unit_of_work
from services.programs import handlers
from services.programs.tests.support import TODAY, scalar, setup_program
from tests.support.answers import answer


def outcome(call):
    return answer(call.result, ok="ok")


def wait_for_lock_waiters(conn, count: int, timeout: float = 20.0) -> None:
    """Until `count` sessions of the programs database wait on a lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = :db "
                                    "AND wait_event_type = 'Lock'"), {"db": config.database_name("programs")}).scalar()
        conn.rollback()  # pg_stat_activity is a snapshot per transaction
        if waiting >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} calls came to wait on the program's lock")


def test_collection_changes_racing_its_deletion_are_not_found(programs):
    """The deletion is first in line for the program's lock; changes of the
    collection read it, then queue behind the deletion; they find it gone."""
    org_id, _, program = setup_program(programs)
    collection = programs.create_collection(org_id, program["id"], {"name": "Doomed"})
    changes = [{"name": "Renamed"}, {"position": 1}, {"description": "later"}, {"item_ids": []}]
    engine = create_engine(config.database_url("programs"))
    try:
        with engine.connect() as holder, engine.connect() as watcher:
            holder.execute(text("SELECT id FROM programs WHERE id = :id FOR UPDATE"), {"id": program["id"]})
            deletion = programs.delete_collection.call_async(org_id, collection["id"])
            wait_for_lock_waiters(watcher, 1)
            racing = [programs.update_collection.call_async(org_id, collection["id"], change) for change in changes]
            racing.append(programs.add_collection_items.call_async(org_id, collection["id"], [], []))
            racing.append(programs.remove_collection_item.call_async(org_id, collection["id"], str(uuid.uuid4())))
            wait_for_lock_waiters(watcher, 1 + len(racing))
            holder.rollback()  # the deletion takes the lock first, then the others
            assert outcome(deletion) == "ok"
            assert [outcome(call) for call in racing] == ["NOT_FOUND"] * len(racing)
    finally:
        engine.dispose()
    with pytest.raises(AppError) as gone:
        programs.update_collection(org_id, collection["id"], {"name": "Late"})
    assert gone.value.code == "NOT_FOUND"


# ---------------------------------------------------------------- text PostgreSQL cannot store

UNSTORABLE = ["\x00", "a\x00b", "a\ud800b", "\udfff"]


def refusal(call, *args, **kwargs) -> str:
    return answer(call, *args, ok="ok", **kwargs)


def test_unstorable_text_in_searches_and_lookups_is_refused(programs):
    org_id, contract, program = setup_program(programs)
    calls = {
        "search_courses": lambda bad: programs.search_courses(bad, 10, None),
        "search_specializations": lambda bad: programs.search_specializations(bad, 10, None),
        "get_courses": lambda bad: programs.get_courses([bad]),
        "find_courses": lambda bad: programs.find_courses([bad]),
        "collection_names": lambda bad: programs.collection_names([bad]),
        "locate_program": lambda bad: programs.locate_program(bad),
        "get_program": lambda bad: programs.get_program(org_id, bad),
        "get_program (org)": lambda bad: programs.get_program(bad, program["id"]),
        "find_program_by_slug": lambda bad: programs.find_program_by_slug(bad),
        "list_programs": lambda bad: programs.list_programs(org_id, [bad]),
        "locate_contract": lambda bad: programs.locate_contract(bad),
        "locate_collection": lambda bad: programs.locate_collection(bad),
        "list_members": lambda bad: programs.list_members(org_id, program["id"], {"q": bad}),
        "membership_state": lambda bad: programs.membership_state(program["id"], bad),
        "my_programs": lambda bad: programs.my_programs(bad),
        "join_program (name)": lambda bad: programs.join_program(org_id, program["id"], "u-1", contract["id"],
                                                                 None, "u1@example.com", bad),
    }
    outcomes = {(name, bad): refusal(call, bad) for name, call in calls.items() for bad in UNSTORABLE}
    unexpected = {key: value for key, value in outcomes.items() if value not in ("INVALID_INPUT", "NOT_FOUND")}
    assert unexpected == {}


def test_a_cursor_carrying_unstorable_text_is_refused(programs):
    org_id, _, program = setup_program(programs)
    for bad in UNSTORABLE:
        assert refusal(programs.search_courses, None, 10, encode_cursor([bad, "x"])) == "INVALID_INPUT"
        cursor = encode_cursor([bad, program["id"]])  # a well-formed id after the bad name
        assert refusal(programs.list_members, org_id, program["id"], {"cursor": cursor}) == "INVALID_INPUT"


def test_an_event_naming_people_with_unstorable_text_still_records_every_row(programs):
    """Another service's batch event is kept whole: an unstorable name is
    stored with U+FFFD in place of the bad characters (a redelivery would fail
    the same way, and the batch's other people would be lost)."""
    org_id, contract, program = setup_program(programs)
    people = [("u-nul", "Nul\x00Name", "nul@example.com"), ("u-sur", "Sur\ud800", "sur@example.com"),
              ("u-ok", "Plain Name", "ok@example.com")]
    with unit_of_work("programs") as uow:
        handlers.on_invitations_created(uow, {
            "org_id": org_id, "program_id": program["id"], "contract_id": contract["id"],
            "invitations": [{"invitation_id": f"inv-{user_id}", "user_id": user_id, "email": email,
                             "full_name": name} for user_id, name, email in people]})
    with unit_of_work("programs") as uow:
        handlers.on_profile_updated(uow, {"org_id": org_id, "user_id": "u-ok", "email": "ok@example.com",
                                          "full_name": "Plain\x00Renamed"})
    members = programs.list_members(org_id, program["id"], {})["items"]
    assert sorted((m["user_id"], m["full_name"], m["state"]) for m in members) == [
        ("u-nul", "Nul\ufffdName", "INVITED"), ("u-ok", "Plain\ufffdRenamed", "INVITED"),
        ("u-sur", "Sur\ufffd", "INVITED")]


def test_find_courses_by_id_or_slug(programs):
    """reporting resolves xAPI course IRIs (a slug, an Open edX course code) with it."""
    found = programs.find_courses(["ai-for-everyone", "daG-a-O1EeijKBISCWxf6g", "no-such-course"])
    assert [(c["id"], c["slug"]) for c in found] == [("daG-a-O1EeijKBISCWxf6g", "ai-for-everyone")]
    assert programs.find_courses([]) == []
    for bad in ("not a list", [""], ["x" * 256], [1], ["a"] * 1001):
        assert refusal(programs.find_courses, bad) == "INVALID_INPUT"


def test_collection_names(programs):
    """reporting's backfill of Enrollment Source: the collections that exist among the ids."""
    org_id, _, program = setup_program(programs)
    made = programs.create_collection(org_id, program["id"], {"name": "Start here", "description": None})
    assert programs.collection_names([made["id"], "7f9c6f4e-0000-4000-8000-000000000000"]) == [
        {"id": made["id"], "org_id": org_id, "program_id": program["id"], "name": "Start here"}]
    for bad in ("x", ["not-a-uuid"], [1], ["7f9c6f4e-0000-4000-8000-000000000000"] * 1001):
        assert refusal(programs.collection_names, bad) == "INVALID_INPUT"


def test_catalog_search_takes_wildcards_literally(programs):
    """`?q=%` or `_` is text to find, as in the members search: not every course."""
    assert programs.search_courses("%", 10, None)["items"] == []
    assert programs.search_courses("_", 10, None)["items"] == []
    assert programs.search_courses("python", 10, None)["items"]


# ---------------------------------------------------------------- integers are integers


@pytest.mark.parametrize("bad", [1.5, "5", True])
def test_license_count_and_enrollment_limit_must_be_integers(programs, bad):
    org_id, contract, program = setup_program(programs)
    body = {"name": f"Year {uuid.uuid4()}", "starts_on": "2026-01-01", "ends_on": "2026-12-31"}
    calls = {
        "create_contract": lambda: programs.create_contract(org_id, {**body, "license_count": bad}),
        "update_contract": lambda: programs.update_contract(org_id, contract["id"], {"license_count": bad}),
        "create_program": lambda: programs.create_program(org_id, {"name": f"P {uuid.uuid4()}", "enrollment_limit": bad,
                                                                   "contract_ids": [contract["id"]]}),
        "update_program": lambda: programs.update_program(org_id, program["id"], {"enrollment_limit": bad}),
    }
    assert {name: refusal(call) for name, call in calls.items()} == dict.fromkeys(calls, "INVALID_INPUT")
    assert programs.get_contract(org_id, contract["id"])["license_count"] == 10
    assert programs.get_program(org_id, program["id"])["enrollment_limit"] is None


def test_a_join_racing_the_programs_removal_leaves_no_member_and_no_license_taken(programs):
    """A join reads the program, then waits for its contract's lock while the
    program is removed (removal locks only the contracts its members hold):
    the join must not add a member to the removed program nor keep a license."""
    org_id, used, program = setup_program(programs)
    spare = programs.create_contract(org_id, {"name": "Spare", "license_count": 5,
                                              "starts_on": str(TODAY - timedelta(days=1)),
                                              "ends_on": str(TODAY + timedelta(days=30))})
    programs.update_program(org_id, program["id"], {"contract_ids": [used["id"], spare["id"]]})
    programs.join_program(org_id, program["id"], "member-1", used["id"], None, email="m1@example.com")
    engine = create_engine(config.database_url("programs"))
    try:
        with engine.connect() as holder, engine.connect() as watcher:
            holder.execute(text("SELECT id FROM contracts WHERE id = :id FOR UPDATE"), {"id": spare["id"]})
            join = programs.join_program.call_async(org_id, program["id"], "member-2", spare["id"], None,
                                                    email="m2@example.com")
            wait_for_lock_waiters(watcher, 1)
            removal = programs.remove_program.call_async(org_id, program["id"])
            time.sleep(1.0)  # unfixed, the removal commits meanwhile; fixed, it waits for the join
            holder.rollback()
            outcomes = (outcome(join), outcome(removal))
    finally:
        engine.dispose()
    assert outcomes[1] == "ok" and outcomes[0] in ("ok", "NOT_FOUND"), outcomes
    assert scalar("SELECT count(*) FROM memberships WHERE program_id = :p AND state = 'MEMBER'", p=program["id"]) == 0
    assert scalar("SELECT licenses_used FROM contracts WHERE id = :id", id=spare["id"]) == 0
    assert scalar("SELECT licenses_used FROM contracts WHERE id = :id", id=used["id"]) == 0
