"""The xAPI subset mapped onto native statements (pure, no database), with
statements shaped like those Open edX's event-routing-backends emit."""
import copy
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.reporting import xapi
from services.reporting.statements import Rejected

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
FUTURE = timedelta(minutes=5)
LMS = "https://lms.example.com"
COURSE_KEY = "course-v1:DeepLearningAI+ai-for-everyone+2026_T1"  # an Open edX course key
COURSE_IRI = f"{LMS}/course/{COURSE_KEY}"  # as event-routing-backends names the course


def openedx_problem_check(**changes) -> dict:
    """An event-routing-backends `edx.grades.problem.submitted` / problem_check statement."""
    statement = {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "account": {"homePage": LMS, "name": "ada@acme.example"}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/answered", "display": {"en": "answered"}},
        "object": {"id": f"{LMS}/xblock/block-v1:acme+AI+2026+type@problem+block@q1", "objectType": "Activity",
                   "definition": {"type": "http://adlnet.gov/expapi/activities/cmi.interaction",
                                  "name": {"en-US": "Check your understanding"}, "interactionType": "other"}},
        "result": {"success": True, "score": {"scaled": 0.8, "raw": 8, "min": 0, "max": 10}, "response": "[42]"},
        "context": {
            "registration": str(uuid.uuid4()),
            "contextActivities": {
                "parent": [{"id": COURSE_IRI, "objectType": "Activity",
                            "definition": {"type": "http://adlnet.gov/expapi/activities/course",
                                           "name": {"en-US": "AI For Everyone"}}}],
                "grouping": [{"id": f"{LMS}/xblock/block-v1:acme+AI+2026+type@sequential+block@week1",
                              "objectType": "Activity",
                              "definition": {"type": "http://adlnet.gov/expapi/activities/module"}}]},
            "extensions": {"https://w3id.org/xapi/openedx/extension/transformer-version":
                           "event-routing-backends@7.0.1",
                           "https://w3id.org/xapi/openedx/extensions/session-id": "e4858858"}},
        "timestamp": "2026-03-02T09:15:00.123Z",
        "version": "1.0.3",
    }
    statement.update(changes)
    return statement


def openedx_video_played() -> dict:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": "mailto:Ada@Acme.example"},
        "verb": {"id": "https://w3id.org/xapi/video/verbs/played", "display": {"en": "played"}},
        "object": {"id": f"{LMS}/xblock/block-v1:acme+AI+2026+type@video+block@v1", "objectType": "Activity",
                   "definition": {"type": "https://w3id.org/xapi/video/activity-type/video"}},
        "result": {"extensions": {"https://w3id.org/xapi/video/extensions/time": 12.5}},
        "context": {"contextActivities": {"parent": [{"id": COURSE_IRI, "objectType": "Activity",
                                                      "definition": {"type":
                                                                     "http://adlnet.gov/expapi/activities/course"}}]}},
        "timestamp": "2026-03-02T09:10:00Z",
    }


def test_answered_with_a_score_is_a_graded_attempt():
    row = xapi.parse(openedx_problem_check(), NOW, FUTURE)
    assert (row.verb, row.object_type, row.item_type) == ("graded", "item", "quiz")
    assert row.course_id == COURSE_KEY and row.email == "ada@acme.example"
    assert row.item_name == "Check your understanding"  # object.definition.name (the gradebooks' Assessment)
    assert (row.score, row.max_score, row.passed) == (8.0, 10.0, True)
    assert row.lesson_id.endswith("block@week1") and row.item_id.endswith("block@q1")
    assert row.ts == datetime(2026, 3, 2, 9, 15, 0, 123000, tzinfo=UTC) and row.source == "xapi"


def test_verbs_map_onto_native_verbs():
    verbs = {"launched": "started", "initialized": "started", "completed": "completed", "experienced": "viewed"}
    for adl, native in verbs.items():
        statement = openedx_problem_check(verb={"id": f"http://adlnet.gov/expapi/verbs/{adl}"})
        assert xapi.parse(statement, NOW, FUTURE).verb == native
    failed = xapi.parse(openedx_problem_check(verb={"id": "http://adlnet.gov/expapi/verbs/failed"}), NOW, FUTURE)
    assert failed.verb == "graded" and failed.passed is False
    scored = openedx_problem_check(verb={"id": "http://adlnet.gov/expapi/verbs/scored"})
    scored["result"] = {"score": {"scaled": 0.5}}
    assert (xapi.parse(scored, NOW, FUTURE).score, xapi.parse(scored, NOW, FUTURE).max_score) == (50.0, 100.0)
    unscored = openedx_problem_check()
    del unscored["result"]
    assert xapi.parse(unscored, NOW, FUTURE).verb == "viewed"  # answered without a score: activity only
    played = xapi.parse(openedx_video_played(), NOW, FUTURE)  # any other verb: activity
    assert (played.verb, played.item_type, played.email, played.lesson_id) == ("viewed", "video", "ada@acme.example",
                                                                                None)


def test_completing_the_course_and_account_actors():
    user_id = str(uuid.uuid4())
    statement = openedx_problem_check(
        actor={"account": {"homePage": LMS, "name": user_id}},
        verb={"id": "http://adlnet.gov/expapi/verbs/completed"},
        object={"id": COURSE_IRI, "definition": {"type": "http://adlnet.gov/expapi/activities/course"}})
    del statement["result"]
    row = xapi.parse(statement, NOW, FUTURE)
    assert (row.verb, row.object_type, row.course_id, row.user_id) == ("completed", "course", COURSE_KEY, user_id)


def test_digest_ignores_what_the_spec_ignores_and_ids_are_made_when_missing():
    statement = openedx_problem_check()
    same = copy.deepcopy(statement)
    same["stored"], same["version"] = "2026-03-02T10:00:00Z", "1.0.0"
    assert xapi.parse(statement, NOW, FUTURE).digest == xapi.parse(same, NOW, FUTURE).digest
    changed = copy.deepcopy(statement)
    changed["result"]["score"]["raw"] = 9
    assert xapi.parse(changed, NOW, FUTURE).digest != xapi.parse(statement, NOW, FUTURE).digest
    anonymous = openedx_problem_check()
    del anonymous["id"], anonymous["timestamp"]
    row = xapi.parse(anonymous, NOW, FUTURE)
    assert uuid.UUID(row.statement_id) and row.ts == NOW


@pytest.mark.parametrize("change", [
    {"id": "not-a-uuid"},
    {"actor": {"mbox_sha1sum": "abc"}},
    {"actor": {"objectType": "Group", "member": []}},
    {"actor": {"account": {"homePage": LMS, "name": "anonymous-42"}}},
    {"verb": {"id": "not an iri"}},
    {"verb": {"id": "http://adlnet.gov/expapi/verbs/voided"}},
    {"object": {"objectType": "StatementRef", "id": str(uuid.uuid4())}},
    {"context": {"contextActivities": {}}, "object": {"id": f"{LMS}/activities/q1"}},  # no course anywhere
    {"object": {"id": f"{LMS}/activities/q1", "definition": {"name": "Quiz"}}},  # a name is a language map
    {"result": {"score": {"raw": 11, "max": 10}}},
    {"result": {"score": {"scaled": 2}}},
    {"timestamp": "2026-03-02T09:15:00"},
    {"unknown": 1},
    {"verb": {"id": "http://adlnet.gov/expapi/verbs/passed"}, "result": {"success": True}},
])
def test_invalid_statements_are_rejected(change):
    with pytest.raises(Rejected) as refused:
        xapi.parse(openedx_problem_check(**change), NOW, FUTURE)
    assert refused.value.code == "INVALID_STATEMENT" and refused.value.message


def test_openedx_course_keys_name_catalog_courses():
    """course-v1:ORG+COURSE+RUN names the catalog course whose id or slug is COURSE (docs/reporting.md)."""
    assert xapi.openedx_candidates(COURSE_KEY) == ["ai-for-everyone"]
    assert xapi.openedx_candidates("course-v1:MITx+6.00.1x+2T2026") == ["6.00.1x", "6-00-1x"]
    assert xapi.openedx_candidates("course-v1:Acme+AI_101+run") == ["AI_101", "ai-101"]
    assert xapi.openedx_candidates("ai-for-everyone") == [] and xapi.openedx_candidates("course-v1:a+b") == []
    # percent-encoded in the IRI, as some forwarders send it
    encoded = openedx_problem_check()
    encoded["context"]["contextActivities"]["parent"][0]["id"] = f"{LMS}/course/course-v1%3ADeepLearningAI%2B" \
                                                                 "ai-for-everyone%2B2026_T1"
    assert xapi.parse(encoded, NOW, FUTURE).course_id == COURSE_KEY
    # no course in the context: the course of the Open edX block the object is
    bare = openedx_problem_check()
    del bare["context"]
    assert xapi.parse(bare, NOW, FUTURE).course_id == "course-v1:acme+AI+2026"


def test_display_names():
    def named(name):
        statement = openedx_problem_check()
        statement["object"]["definition"]["name"] = name
        return xapi.parse(statement, NOW, FUTURE).item_name

    assert named({"fr": "Vérifiez", "en": "Check"}) == "Check"  # English first
    assert named({"fr": "Vérifiez", "de": "Prüfen"}) == "Prüfen"  # else the first tag in order
    assert named({"en-US": "  Two\nlines\t "}) == "Two lines"
    assert named({"en-US": ""}) is None and named({}) is None
    assert len(named({"en-US": "x" * 900})) == 500
