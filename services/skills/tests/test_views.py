"""Every view on a fixture with known answers (commands and queries on the real
database), and the benchmark's quartiles, minimum group size and reference groups."""
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from contracts.errors import AppError
from servicekit.standalone import unit_of_work
from services.skills import queries
from services.skills.commands import projections, ratings
from services.skills.settings import SkillsSettings

SETTINGS = SkillsSettings.from_env({})
DAY1 = datetime(2026, 3, 1, 8, tzinfo=UTC)
DAY2 = datetime(2026, 3, 2, 8, tzinfo=UTC)


def attempts(org_id, user_id, course_id, scores, start):
    return [{"statement_id": str(uuid.uuid4()), "org_id": org_id, "user_id": user_id, "course_id": course_id,
             "item_id": f"{course_id}-quiz", "score": s, "max_score": 1.0, "attempted_at": start + timedelta(hours=k)}
            for k, s in enumerate(scores)]


def hours(org_id, user_id, course_id, value, as_of):
    return {"org_id": org_id, "user_id": user_id, "course_id": course_id, "hours": value, "as_of": as_of}


@pytest.fixture
def org(loaded):
    """u1: 12 passes of course 1 (T Alpha: Advanced) and 3 of course 2 (T Beta: Advanced), on day 1;
    u2: 12 failures (T Alpha: Beginner); u3: 12 half scores on day 2 (T Alpha: Intermediate, score 250).
    Program P: u1 and u2; its curriculum offers course 1 and the specialization (courses 2 and 3)."""
    org_id, program_id = str(uuid.uuid4()), str(uuid.uuid4())
    with unit_of_work("skills") as uow:
        ratings.record_attempts(uow, attempts(org_id, "u1", "t-c1", [1.0] * 12, DAY1)
                                + attempts(org_id, "u1", "t-c2", [1.0] * 3, DAY1)
                                + attempts(org_id, "u2", "t-c1", [0.0] * 12, DAY1)
                                + attempts(org_id, "u3", "t-c1", [0.5] * 12, DAY2), SETTINGS)
        ratings.record_hours(uow, [hours(org_id, "u1", "t-c1", 4.0, DAY2), hours(org_id, "u2", "t-c1", 2.0, DAY2),
                                   hours(org_id, "u3", "t-c1", 1.0, DAY1), hours(org_id, "u1", "t-c2", 1.5, DAY2)])
        ratings.record_hours(uow, [hours(org_id, "u3", "t-c1", 3.0, DAY2),  # newer: replaces 1.0
                                   hours(org_id, "u2", "t-c1", 10.0, DAY1)])  # older: ignored
        for user_id, name in (("u1", "Ada One"), ("u2", "Bo Two")):
            projections.member_joined(uow, {"org_id": org_id, "program_id": program_id, "user_id": user_id,
                                            "full_name": name, "email": f"{user_id}@example.com"})
        projections.remember_people(uow, org_id, [{"user_id": "u3", "full_name": "Cy Three",
                                                   "email": "u3@example.com"}])
        projections.curriculum_changed(uow, {"org_id": org_id, "program_id": program_id, "course_ids": ["t-c1"],
                                             "specialization_ids": ["t-spec"]}, DAY2)
        projections.curriculum_changed(uow, {"org_id": org_id, "program_id": program_id, "course_ids": [],
                                             "specialization_ids": []}, DAY1)  # older: ignored
    return org_id, program_id


def view(fn, *args, **kwargs):
    with unit_of_work("skills") as uow:
        return fn(uow, *args, **kwargs)


def test_distribution(org):
    org_id, program_id = org
    page = view(queries.distribution, org_id, None, 50, None)
    assert page["items"] == [
        {"skill_id": "t-alpha", "skill": "T Alpha", "domain": "Test A", "learners": 3, "beginner": 1,
         "intermediate": 1, "advanced": 1},
        {"skill_id": "t-beta", "skill": "T Beta", "domain": "Test B", "learners": 1, "beginner": 0,
         "intermediate": 0, "advanced": 1}]
    in_program = view(queries.distribution, org_id, program_id, 50, None)["items"]
    assert [(i["skill_id"], i["learners"], i["beginner"], i["intermediate"], i["advanced"]) for i in in_program] == \
        [("t-alpha", 2, 1, 0, 1), ("t-beta", 1, 0, 0, 1)]
    first = view(queries.distribution, org_id, None, 1, None)
    second = view(queries.distribution, org_id, None, 1, first["next_cursor"])
    assert [first["items"][0]["skill_id"], second["items"][0]["skill_id"]] == ["t-alpha", "t-beta"]
    assert second["next_cursor"] is None


def test_assessments_and_hours(org):
    org_id, program_id = org
    items = view(queries.assessments, org_id, None, 50, None)["items"]
    assert [(i["skill_id"], i["total"], i["learners"], i["average"]) for i in items] == \
        [("t-alpha", 36, 3, 12.0), ("t-beta", 3, 1, 3.0)]
    assert [(i["skill_id"], i["total"]) for i in view(queries.assessments, org_id, program_id, 50, None)["items"]] \
        == [("t-alpha", 24), ("t-beta", 3)]
    items = view(queries.hours, org_id, None, 50, None)["items"]
    assert [(i["skill_id"], i["learners"], i["total_hours"], i["average_hours"]) for i in items] == \
        [("t-alpha", 3, 9.0, 3.0), ("t-beta", 1, 1.5, 1.5)]
    items = view(queries.hours, org_id, program_id, 50, None)["items"]
    assert [(i["skill_id"], i["average_hours"]) for i in items] == [("t-alpha", 3.0), ("t-beta", 1.5)]


def test_hours_to_mastery(org):
    org_id, program_id = org
    alpha = view(queries.hours_to_mastery, org_id, None, 50, None)["items"][0]
    assert alpha["skill_id"] == "t-alpha"
    assert (alpha["beginner"], alpha["intermediate"], alpha["advanced"]) == (
        {"learners": 1, "median_hours": 2.0}, {"learners": 1, "median_hours": 3.0},
        {"learners": 1, "median_hours": 4.0})
    alpha = view(queries.hours_to_mastery, org_id, program_id, 50, None)["items"][0]
    assert alpha["intermediate"] == {"learners": 0, "median_hours": None}
    assert alpha["advanced"] == {"learners": 1, "median_hours": 4.0}


def test_hours_to_mastery_is_the_lower_median(loaded):
    """Several learners per level: the lower median of the half-hour buckets, as the bucket's lower bound."""
    org_id = str(uuid.uuid4())
    buckets = {"BEGINNER": {2: 1, 4: 2, 10: 1},  # 4 learners: the 2nd is in bucket 4 -> 2.0 h
               "INTERMEDIATE": {1: 2, 3: 1, 9: 2},  # 5 learners: the 3rd is in bucket 3 -> 1.5 h
               "ADVANCED": {7: 1}}
    with unit_of_work("skills") as uow:
        uow.session.execute(text(
            "INSERT INTO skill_stats (org_id, skill_id, learners, beginner, intermediate, advanced, score_sum, "
            "attempts, hours_learners, hours_sum) VALUES (:o, 't-alpha', 10, 4, 5, 1, 2500, 10, 10, 20)"),
            {"o": org_id})
        for level, histogram in buckets.items():
            for bucket, n in histogram.items():
                uow.session.execute(text("INSERT INTO hours_histogram (org_id, skill_id, level, bucket, learners) "
                                         "VALUES (:o, 't-alpha', :l, :b, :n)"), {"o": org_id, "l": level, "b": bucket,
                                                                                 "n": n})
    alpha = view(queries.hours_to_mastery, org_id, None, 50, None)["items"][0]
    assert (alpha["beginner"], alpha["intermediate"], alpha["advanced"]) == (
        {"learners": 4, "median_hours": 2.0}, {"learners": 5, "median_hours": 1.5},
        {"learners": 1, "median_hours": 3.5})


def test_mastery_over_time(org):
    org_id, program_id = org
    items = view(queries.mastery_over_time, org_id, None, date(2026, 1, 1), "day", 50, None)["items"]
    assert [(i["skill_id"], i["series"]) for i in items] == [
        ("t-alpha", [{"date": "2026-03-01", "intermediate": 1, "advanced": 1},
                     {"date": "2026-03-02", "intermediate": 2, "advanced": 1}]),
        ("t-beta", [{"date": "2026-03-01", "intermediate": 1, "advanced": 1}])]
    items = view(queries.mastery_over_time, org_id, program_id, date(2026, 1, 1), "day", 50, None)["items"]
    assert items[0]["series"] == [{"date": "2026-03-01", "intermediate": 1, "advanced": 1}]
    # by month, and since a later day: the learners reached before are the starting count
    items = view(queries.mastery_over_time, org_id, None, date(2026, 1, 1), "month", 50, None)["items"]
    assert items[0]["series"] == [{"date": "2026-03-01", "intermediate": 2, "advanced": 1}]
    items = view(queries.mastery_over_time, org_id, None, date(2026, 3, 2), "day", 50, None)["items"]
    assert items[0]["series"] == [{"date": "2026-03-02", "intermediate": 2, "advanced": 1}]
    assert items[1]["series"] == [{"date": "2026-03-02", "intermediate": 1, "advanced": 1}]
    first = view(queries.mastery_over_time, org_id, None, None, "week", 1, None)
    assert [i["skill_id"] for i in first["items"]] == ["t-alpha"] and first["next_cursor"]


def test_leaderboard_and_anonymization(org):
    org_id, program_id = org
    page = view(queries.leaderboard, org_id, None, None, None, False, 50, None)
    assert [(i["skill_id"], i["name"], i["email"], i["level"]) for i in page["items"]] == [
        ("t-alpha", "Ada One", "u1@example.com", "ADVANCED"), ("t-alpha", "Cy Three", "u3@example.com",
                                                               "INTERMEDIATE"),
        ("t-beta", "Ada One", "u1@example.com", "ADVANCED")]
    assert page["items"][1]["score"] == 250.0 and page["items"][0]["domain"] == "Test A"
    first = view(queries.leaderboard, org_id, None, None, None, False, 2, None)
    rest = view(queries.leaderboard, org_id, None, None, None, False, 2, first["next_cursor"])
    assert [i["name"] for i in first["items"] + rest["items"]] == ["Ada One", "Cy Three", "Ada One"]
    assert rest["next_cursor"] is None
    assert [i["name"] for i in view(queries.leaderboard, org_id, program_id, None, None, False, 50, None)["items"]] \
        == ["Ada One", "Ada One"]
    assert len(view(queries.leaderboard, org_id, None, "t-beta", None, False, 50, None)["items"]) == 1
    assert len(view(queries.leaderboard, org_id, None, None, "Test A", False, 50, None)["items"]) == 2
    with unit_of_work("skills") as uow:
        projections.apply_org(uow, org_id, {"anonymize_leaderboard": True}, DAY2)
        assert queries.anonymized(uow, org_id) is True
    hidden = view(queries.leaderboard, org_id, None, None, None, True, 50, None)["items"]
    assert all(i["name"] is None and i["email"] is None and i["user_id"] is None and i["anonymized"]
               for i in hidden)
    assert [i["level"] for i in hidden] == ["ADVANCED", "INTERMEDIATE", "ADVANCED"]


def test_relevant_courses_only_what_the_programs_offer(org):
    org_id, program_id = org
    items = view(queries.relevant_courses, org_id, None, 3, 50, None)["items"]
    assert items == [
        {"skill_id": "t-alpha", "skill": "T Alpha", "domain": "Test A",
         "beginner": [{"course_id": "t-c1", "name": "Course One", "relevance": 1.0}], "intermediate": [],
         "advanced": [{"course_id": "t-c3", "name": "Course Three", "relevance": 0.6}]},
        {"skill_id": "t-beta", "skill": "T Beta", "domain": "Test B", "beginner": [],
         "intermediate": [{"course_id": "t-c2", "name": "Course Two", "relevance": 1.0}],
         "advanced": [{"course_id": "t-c3", "name": "Course Three", "relevance": 0.4}]}]
    other = view(queries.relevant_courses, str(uuid.uuid4()), None, 3, 50, None)["items"]
    assert other == []


def test_a_program_filter_on_another_organizations_program_is_refused(org, start_skills, rabbit_config):
    """Tenancy twice: the gateway checks the program with programs; skills refuses a
    program it knows as another organization's (from members and curriculum events)."""
    from nameko.standalone.rpc import ServiceRpcProxy

    org_id, program_id = org
    other_org = str(uuid.uuid4())
    start_skills()
    with ServiceRpcProxy("skills", rabbit_config) as skills:
        mine = skills.distribution(org_id, {"program_id": program_id})["items"]
        assert [(i["skill_id"], i["learners"]) for i in mine] == [("t-alpha", 2), ("t-beta", 1)]
        for view in ("distribution", "hours_to_mastery", "mastery_over_time", "leaderboard", "assessments", "hours",
                     "relevant_courses"):
            with pytest.raises(AppError) as refused:
                getattr(skills, view)(other_org, {"program_id": program_id})
            assert (refused.value.code, refused.value.message) == ("NOT_FOUND", "program not found"), view
        # a program skills has heard nothing of yet: nothing to show, not an error
        assert skills.distribution(org_id, {"program_id": str(uuid.uuid4())})["items"] == []


def test_glossary(loaded):
    items = view(queries.glossary, "Test A", 50, None)["items"]
    assert items == [{"domain": "Test A", "skill_id": "t-alpha", "skill": "T Alpha",
                      "definition": "Alpha is the first.", "sub_skills": ["a1", "a2"]}]
    everything, cursor = [], None
    while True:
        page = view(queries.glossary, None, 20, cursor)
        everything += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(everything) >= 48 and len({i["skill_id"] for i in everything}) == len(everything)
    with pytest.raises(AppError):
        view(queries.glossary, None, 20, "not-a-cursor")


# ---------------------------------------------------------------- benchmark


def seed_org(uow, region, size, industry, averages: dict, learners=10):
    org_id = str(uuid.uuid4())
    projections.apply_org(uow, org_id, {"region": region, "company_size": size, "industry": industry}, DAY1)
    for skill_id, average in averages.items():
        uow.session.execute(text(
            "INSERT INTO skill_stats (org_id, skill_id, learners, beginner, intermediate, advanced, score_sum, "
            "attempts, hours_learners, hours_sum) VALUES (:o, :s, :n, 0, :n, 0, :sum, 0, 0, 0)"),
            {"o": org_id, "s": skill_id, "n": learners, "sum": average * learners})
    return org_id


@pytest.fixture
def group(loaded):
    """An industry of its own: the asker (T Alpha 250, T Beta 420) and six peers in EUROPE,
    four of them of size 51-200; one more peer elsewhere."""
    industry = f"Test {uuid.uuid4().hex[:8]}"
    with unit_of_work("skills") as uow:
        me = seed_org(uow, "EUROPE", "51-200", industry, {"t-alpha": 250.0, "t-beta": 420.0}, learners=20)
        for i, alpha in enumerate([100.0, 150.0, 200.0, 300.0, 350.0, 400.0]):
            seed_org(uow, "EUROPE", "51-200" if i < 4 else "201-1000", industry, {"t-alpha": alpha, "t-beta": 100.0})
        seed_org(uow, "ASIA_PACIFIC", "51-200", industry, {"t-alpha": 10.0})
    return me, industry


def bench(org_id, filters, **settings):
    return view(queries.benchmark, org_id, filters, SkillsSettings.from_env(settings), 50, None)


def test_benchmark_percentile_ranks_and_quartiles(group):
    me, industry = group
    answer = bench(me, {"industry": industry, "region": "EUROPE"})
    assert answer["organizations_in_group"] == 6 and answer["minimum_group_size"] == 5
    alpha, beta = answer["items"]
    assert (alpha["skill_id"], alpha["score"], alpha["peers"], alpha["percentile_rank"], alpha["quartile"]) == \
        ("t-alpha", 250.0, 6, 50.0, "EMERGING")
    assert alpha["group_average"] == 250.0 and alpha["status"] == "OK"
    assert (beta["percentile_rank"], beta["quartile"]) == (100.0, "CUTTING_EDGE")
    # overall: the mean over the asker's top skills (both): (250 + 420) / 2 = 335, each peer's mean likewise
    overall = answer["overall"]
    assert overall["score"] == 335.0 and overall["skills"] == ["t-alpha", "t-beta"]
    assert overall["percentile_rank"] == 100.0 and overall["quartile"] == "CUTTING_EDGE"
    # the whole industry: one more peer below
    everyone = bench(me, {"industry": industry})["items"][0]
    assert (everyone["peers"], everyone["percentile_rank"], everyone["quartile"]) == (7, 57.1,
                                                                                      "COMPETITIVE")


def test_reference_group_as_people_write_it(group):
    """`?region=Europe&industry=finance`: a region in any case (identity keeps EUROPE),
    an industry regardless of case (free text in identity)."""
    from marshmallow import ValidationError

    from contracts.skills import BenchmarkQuery

    me, industry = group
    loaded = BenchmarkQuery().load({"region": "Europe", "industry": industry.lower()})
    assert loaded["region"] == "EUROPE"
    assert BenchmarkQuery().load({"region": "north  america"})["region"] == "NORTH_AMERICA"
    with pytest.raises(ValidationError):
        BenchmarkQuery().load({"region": "Atlantis"})
    asked, exact = bench(me, loaded), bench(me, {"industry": industry, "region": "EUROPE"})
    assert asked["reference_group"]["industry"] == industry.lower()  # echoed as asked
    assert {**asked, "reference_group": None} == {**exact, "reference_group": None}
    assert asked["organizations_in_group"] == 6


@pytest.mark.parametrize("own, quartile", [(50.0, "LAGGING"), (175.0, "EMERGING"), (325.0, "COMPETITIVE"),
                                           (375.0, "CUTTING_EDGE")])
def test_each_quartile(loaded, own, quartile):
    industry = f"Test {uuid.uuid4().hex[:8]}"
    with unit_of_work("skills") as uow:
        me = seed_org(uow, None, None, industry, {"t-alpha": own})
        for alpha in [100.0, 150.0, 200.0, 300.0, 350.0, 400.0]:
            seed_org(uow, None, None, industry, {"t-alpha": alpha})
    assert bench(me, {"industry": industry})["items"][0]["quartile"] == quartile


def test_minimum_group_size(group):
    me, industry = group
    small = bench(me, {"industry": industry, "region": "EUROPE", "company_size": "51-200"})
    alpha = small["items"][0]
    assert small["organizations_in_group"] == 4
    assert alpha["group_too_small"] is True and alpha["status"] == "GROUP_TOO_SMALL"
    assert alpha["percentile_rank"] is None and alpha["quartile"] is None and alpha["group_average"] is None
    assert small["overall"]["group_too_small"] is True
    # configurable: with 4 others required the same group is ranked
    assert bench(me, {"industry": industry, "region": "EUROPE", "company_size": "51-200"},
                 SKILLS_BENCHMARK_MIN_GROUP="4")["items"][0]["status"] == "OK"
    # exactly the minimum (5 others) is enough
    assert bench(me, {"industry": industry, "region": "EUROPE"},
                 SKILLS_BENCHMARK_MIN_GROUP="6")["items"][0]["status"] == "OK"
    assert bench(me, {"industry": industry, "region": "EUROPE"},
                 SKILLS_BENCHMARK_MIN_GROUP="7")["items"][0]["status"] == "GROUP_TOO_SMALL"


def test_benchmark_over_time_from_monthly_snapshots(group):
    from services.skills.commands import recompute

    me, industry = group
    months = [date(2026, 1, 1), date(2026, 2, 1)]
    with unit_of_work("skills") as uow:
        # January: as the group fixture but the asker at 120 (rank 1/6); February: at 250
        for month in months:
            uow.session.execute(text(
                "INSERT INTO benchmark_snapshots (month, org_id, skill_id, average, learners) "
                "SELECT :m, org_id, skill_id, CASE WHEN org_id = :me AND :m = CAST('2026-01-01' AS date) "
                "AND skill_id = 't-alpha' THEN 120 ELSE score_sum / learners END, learners FROM skill_stats "
                "WHERE org_id IN (SELECT org_id FROM orgs WHERE industry = :i)"),
                {"m": month, "me": me, "i": industry})
    answer = view(queries.benchmark_over_time, me, {"industry": industry, "region": "EUROPE"}, "t-alpha",
                  SETTINGS, 50, None)
    assert [(i["month"], i["score"], i["percentile_rank"], i["quartile"]) for i in answer["items"]] == [
        ("2026-01-01", 120.0, round(100 / 6, 1), "LAGGING"), ("2026-02-01", 250.0, 50.0, "EMERGING")]
    small = view(queries.benchmark_over_time, me, {"industry": industry, "region": "EUROPE",
                                                   "company_size": "51-200"}, None, SETTINGS, 50, None)
    assert all(i["group_too_small"] for i in small["items"]) and small["skills"] == ["t-alpha", "t-beta"]
    with unit_of_work("skills") as uow:
        assert recompute.snapshot(uow) > 0  # this month's rows from the live aggregates
        mine = uow.session.execute(text("SELECT average FROM benchmark_snapshots WHERE org_id = :o AND "
                                        "skill_id = 't-alpha' AND month = date_trunc('month', now())::date"),
                                   {"o": me}).scalar()
    assert mine == 250.0
