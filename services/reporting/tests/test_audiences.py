"""messaging's activity audiences as reporting answers them: a page of user ids
at a time, in id order, on the real database at a realistic size (25,000 learners)."""
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from contracts.errors import AppError
from servicekit.standalone import unit_of_work
from services.reporting import queries
from services.reporting.service import _audience_page

LEARNERS = 25_000
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def everyone(call) -> list[str]:
    found, after, pages = [], None, 0
    while True:
        page = call(after)
        pages += 1
        found += page["user_ids"]
        after = page["next_after"]
        if after is None:
            return found, pages


def test_pages_at_25k_learners(service_databases):
    org = str(uuid.uuid4())
    with unit_of_work("reporting") as uow:
        # learner n: active n minutes ago; every 3rd completed course A, every 5th course B
        uow.session.execute(text(
            "INSERT INTO learners (org_id, user_id, last_activity_at) SELECT :o, md5(:o || n)::uuid, "
            ":now - n * interval '1 minute' FROM generate_series(1, :n) n"), {"o": org, "n": LEARNERS, "now": NOW})
        uow.session.execute(text(
            "INSERT INTO learner_courses (org_id, user_id, course_id, completed_at) "
            "SELECT :o, md5(:o || n)::uuid, c, :now FROM generate_series(1, :n) n, unnest(ARRAY['A', 'B']) c "
            "WHERE (c = 'A' AND n % 3 = 0) OR (c = 'B' AND n % 5 = 0)"), {"o": org, "n": LEARNERS, "now": NOW})
        expected_active = sorted(uow.session.execute(text(
            "SELECT md5(:o || n)::uuid::text FROM generate_series(1, 10000) n"), {"o": org}).scalars())
        expected_done = sorted(uow.session.execute(text(
            "SELECT md5(:o || n)::uuid::text FROM generate_series(1, :n) n WHERE n % 3 = 0 OR n % 5 = 0"),
            {"o": org, "n": LEARNERS}).scalars())

    def active(after, since=NOW - timedelta(minutes=10_000)):
        with unit_of_work("reporting") as uow:
            return queries.active_learners(uow, org, since, after, 4_000)

    def done(after):
        with unit_of_work("reporting") as uow:
            return queries.course_completers(uow, org, ["A", "B"], after, 10_000)

    found, pages = everyone(active)
    assert found == expected_active and pages == 3  # 4,000 + 4,000 + 2,000
    found, pages = everyone(done)
    assert found == expected_done and len(found) == 11_667 and pages == 2  # each once, some completed both
    with unit_of_work("reporting") as uow:  # no limit: the whole list (older callers)
        assert len(queries.course_completers(uow, org, ["B"])) == LEARNERS // 5
        assert len(queries.active_learners(uow, org, NOW - timedelta(minutes=10))) == 10


@pytest.mark.parametrize("after, limit", [("not-a-uuid", 10), (None, 0), (None, 10_001), (None, "5"), (None, True)])
def test_bad_pages_are_invalid_input(after, limit):
    with pytest.raises(AppError) as refused:
        _audience_page(after, limit)
    assert refused.value.code == "INVALID_INPUT"
