"""The activity presets at a realistic size, on messaging's real database: an
organization of 100,000 members, reporting naming 60,000 of them as active (in
pages of 10,000, as its RPC answers) and 25,000 as completers. The audience is
one array parameter, never an IN list of 100,000 values."""
import time
import uuid

from sqlalchemy import text

from servicekit.standalone import unit_of_work
from services.messaging import audience as audiences

MEMBERS, ACTIVE, COMPLETERS = 100_000, 60_000, 25_000


class FakeReporting:
    """reporting's two audience RPCs over fixed lists, page by page (services/reporting/queries.py)."""

    def __init__(self, active: list[str], completers: list[str]):
        self.active, self.completers, self.calls = sorted(active), sorted(completers), []

    def _page(self, ids, after, limit):
        self.calls.append((after, limit))
        assert limit is not None and limit <= 10_000
        rows = [u for u in ids if after is None or u > after][:limit]
        return {"user_ids": rows, "next_after": rows[-1] if len(rows) == limit else None}

    def active_learners(self, org_id, since, after=None, limit=None):
        return self._page(self.active, after, limit)

    def course_completers(self, org_id, course_ids, after=None, limit=None):
        return self._page(self.completers, after, limit)


def seed(org_id: str, program_id: str) -> list[str]:
    """MEMBERS members of one program, each with a person row and a course enrollment."""
    uid = "md5('m|' || :org || '|' || n)::uuid::text"
    with unit_of_work("messaging") as uow:
        s = uow.session
        s.execute(text("INSERT INTO programs (id, org_id, name) VALUES (:p, :org, 'Big')"), {"p": program_id,
                                                                                            "org": org_id})
        params = {"org": org_id, "p": program_id, "n": MEMBERS}
        s.execute(text(f"INSERT INTO people (org_id, user_id, email, full_name) SELECT :org, {uid}, "
                       "'m' || n || '@big.example', 'M ' || n FROM generate_series(1, :n) n"), params)
        s.execute(text(f"INSERT INTO memberships (program_id, user_id, org_id) SELECT :p, {uid}, :org "
                       "FROM generate_series(1, :n) n"), params)
        s.execute(text(f"INSERT INTO enrollments (id, org_id, program_id, user_id, course_id) "
                       f"SELECT gen_random_uuid()::text, :org, :p, {uid}, 'big-course' FROM generate_series(1, :n) n"),
                  params)
        ids = list(s.execute(text(f"SELECT {uid} FROM generate_series(1, :n) n ORDER BY n"), params).scalars())
    with unit_of_work("messaging") as uow:
        uow.session.execute(text("ANALYZE people; ANALYZE memberships; ANALYZE enrollments"))
    return ids


def test_activity_presets_at_100k_members(service_databases):
    org_id, program_id = str(uuid.uuid4()), str(uuid.uuid4())
    members = seed(org_id, program_id)
    outsiders = [str(uuid.uuid4()) for _ in range(500)]  # reporting may name people messaging does not count
    reporting = FakeReporting(members[:ACTIVE] + outsiders, members[-COMPLETERS:])
    timings = {}
    for preset, extra, expected in (("INACTIVE_FOR_DAYS", {"days": 30}, MEMBERS - ACTIVE),
                                    ("COMPLETED_COURSE", {"filters": {"course_ids": ["big-course"]}}, COMPLETERS)):
        began = time.perf_counter()
        with unit_of_work("messaging") as uow:
            query = audiences.checked(uow.session, org_id, {"preset": preset, **extra}, None, reporting)
            assert audiences.count(uow.session, query) == expected
            first = uow.session.execute(audiences.recipients(query).limit(3)).all()
        timings[preset] = time.perf_counter() - began
        assert len(first) == 3
    # 60,500 active ids: 7 pages; 25,000 completers: 3 pages (the last one short)
    assert [after is None for after, _ in reporting.calls].count(True) == 2 and len(reporting.calls) == 10
    # a program admin's scope narrows it the same way
    with unit_of_work("messaging") as uow:
        scoped = audiences.checked(uow.session, org_id, {"preset": "INACTIVE_FOR_DAYS", "days": 30},
                                   [str(uuid.uuid4())], reporting)
        assert audiences.count(uow.session, scoped) == 0
    print("activity presets at 100k members:", {k: round(v, 2) for k, v in timings.items()})
    assert all(seconds < 30 for seconds in timings.values()), timings
