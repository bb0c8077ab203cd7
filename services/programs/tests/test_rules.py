"""The rules on programs' models, on plain objects: no database, no broker."""
import re
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import pytest

from contracts.errors import AppError, ErrorCode
from services.programs.models import (
    Contract,
    Enrollment,
    Membership,
    Person,
    Program,
    order_items,
    place_at,
)

DAY = date(2026, 6, 15)
NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)


def contract(licenses=3, used=0, starts_on=DAY - timedelta(days=10), ends_on=DAY + timedelta(days=10)):
    return Contract(name="Year 1", license_count=licenses, licenses_used=used, starts_on=starts_on, ends_on=ends_on)


@contextmanager
def refused(code):
    with pytest.raises(AppError) as info:
        yield info
    assert info.value.code == code


# ---------------------------------------------------------------- contracts


def test_a_contract_is_active_from_its_first_to_its_last_day():
    c = contract(starts_on=DAY, ends_on=DAY + timedelta(days=1))
    assert c.is_active(DAY) and c.is_active(DAY + timedelta(days=1))
    assert not c.is_active(DAY - timedelta(days=1)) and not c.is_active(DAY + timedelta(days=2))


def test_taking_licenses_until_none_is_free():
    c = contract(licenses=2)
    c.take_license(DAY)
    c.take_license(DAY)
    assert c.licenses_used == 2 and c.licenses_free == 0
    with refused(ErrorCode.LICENSE_LIMIT_REACHED) as info:
        c.take_license(DAY)
    assert info.value.details == {"license_count": 2} and c.licenses_used == 2


def test_no_license_from_a_contract_outside_its_dates():
    c = contract(starts_on=DAY + timedelta(days=1))
    with refused(ErrorCode.CONTRACT_NOT_ACTIVE):
        c.take_license(DAY)
    assert c.licenses_used == 0


def test_licenses_free_never_goes_negative():
    assert contract(licenses=2, used=5).licenses_free == 0


def test_contract_changes_keep_dates_ordered_and_count_above_use():
    c = contract(licenses=10, used=4)
    assert c.change({"license_count": 10, "name": "Year 1b"}) == ["name"]
    assert c.name == "Year 1b"
    with refused(ErrorCode.LICENSES_IN_USE) as info:
        c.change({"license_count": 3})
    assert info.value.details == {"licenses_used": 4} and c.license_count == 10
    with refused(ErrorCode.INVALID_INPUT):
        c.change({"ends_on": c.starts_on - timedelta(days=1)})
    assert c.change({"license_count": 4}) == ["license_count"]


# ---------------------------------------------------------------- programs


def test_slugs_and_join_urls():
    assert all(re.fullmatch(r"program-[0-9a-z]{6}", Program.new_slug()) for _ in range(100))
    assert Program(slug="program-abc123").join_url("https://x.example") == "https://x.example/programs/program-abc123"


def test_enrollment_limit():
    Program(enrollment_limit=None).check_enrollment_room(1000)
    Program(enrollment_limit=2).check_enrollment_room(1)
    with refused(ErrorCode.ENROLLMENT_LIMIT_REACHED) as info:
        Program(enrollment_limit=2).check_enrollment_room(2)
    assert info.value.details == {"enrollment_limit": 2, "current": 2}


# ---------------------------------------------------------------- curriculum


class Row:
    def __init__(self, id):
        self.id, self.position = id, 0


def positions(rows):
    return [r.id for r in sorted(rows, key=lambda r: r.position)]


def test_place_at_clamps_and_renumbers():
    rows = [Row(n) for n in "abc"]
    place_at(rows, rows[0], 0)
    assert positions(rows) == list("abc") and [r.position for r in rows] == [1, 2, 3]
    place_at(rows, rows[0], 2)
    assert positions(rows) == list("bac")


def test_item_order_must_name_every_item_once():
    items = [Row(n) for n in "xyz"]
    order_items(items, ["z", "x", "y"])
    assert positions(items) == ["z", "x", "y"]
    for wrong in (["x", "y"], ["x", "y", "z", "z"], ["x", "y", "w"]):
        with refused(ErrorCode.INVALID_INPUT):
            order_items(items, wrong)
    assert positions(items) == ["z", "x", "y"]


# ---------------------------------------------------------------- memberships and enrollments


def test_join_makes_a_member_named_after_the_known_person():
    m = Membership(state="INVITED", invitation_id="inv-1", email="old@x.org", full_name="Old", removed_at=NOW)
    m.check_can_join()
    m.join("c1", None, NOW, Person(email="ada@x.org", full_name="Ada Lovelace"))
    assert (m.state, m.contract_id, m.invitation_id, m.joined_at, m.removed_at) == ("MEMBER", "c1", "inv-1", NOW, None)
    assert (m.email, m.full_name, m.sort_name) == ("ada@x.org", "Ada Lovelace", "ada lovelace")
    assert m.joined_with("inv-1") and not m.joined_with("inv-2") and not m.joined_with(None)
    with refused(ErrorCode.ALREADY_MEMBER):
        m.check_can_join()


def test_join_without_a_known_person_keeps_what_the_row_has():
    m = Membership(state=None, email="bob@x.org", full_name=None)
    m.join("c1", "inv-9", NOW, None)
    assert (m.invitation_id, m.sort_name) == ("inv-9", "bob@x.org")


def test_only_members_enroll_and_invitees_are_revoked_not_removed():
    with refused(ErrorCode.NOT_A_MEMBER):
        Membership(state="INVITED").check_can_enroll()
    with refused(ErrorCode.NOT_A_MEMBER):
        Membership(state="DELETED_MEMBER").check_can_enroll()
    Membership(state="MEMBER").check_can_enroll()
    with refused(ErrorCode.RULE_VIOLATION):
        Membership(state="INVITED").check_removable()
    Membership(state="MEMBER").check_removable()


def test_withdrawn_invitation():
    assert Membership(state="INVITED", invitation_id="i1", removed_at=None).withdraw_invitation("i1") is True
    assert Membership(state="INVITED", invitation_id=None, removed_at=None).withdraw_invitation("i1") is True
    past = Membership(state="INVITED", invitation_id="i1", removed_at=NOW)
    assert past.withdraw_invitation("i1") is False and past.state == "DELETED_MEMBER"
    newer = Membership(state="INVITED", invitation_id="i2", removed_at=None)
    assert newer.withdraw_invitation("i1") is None and newer.state == "INVITED"
    member = Membership(state="MEMBER", invitation_id="i1")
    assert member.withdraw_invitation("i1") is None and member.state == "MEMBER"


def test_enrolling_again_after_a_downgrade_restores_access():
    e = Enrollment(downgraded_at=NOW - timedelta(days=1), collection_id="old")
    assert not e.is_current
    e.start(None, NOW)
    assert e.is_current and e.enrolled_at == NOW and e.collection_id is None
