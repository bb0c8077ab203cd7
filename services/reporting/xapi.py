"""The xAPI 1.0.3 subset reporting accepts at POST /v1/xapi/statements,
mapped onto native statements (docs/reporting.md has the mapping table and
what is ignored). Pure functions: `parse(raw, now)` answers a `Parsed` row
whose `course_id` is still the course reference (the last path segment of
the course activity's IRI: a catalog course id or slug, resolved by the
command), or raises `Rejected`."""
import re
import uuid
from datetime import datetime, timedelta
from urllib.parse import unquote, urlsplit

from services.reporting.statements import (
    MAX_ID_LENGTH,
    Parsed,
    Rejected,
    an_object,
    bad,
    digest,
    number,
    statement_id,
    timestamp,
)

ADL = "http://adlnet.gov/expapi/verbs/"
VERB_MAP = {
    ADL + "launched": "started",
    ADL + "initialized": "started",
    ADL + "completed": "completed",
    ADL + "passed": "graded",
    ADL + "failed": "graded",
    ADL + "scored": "graded",
    ADL + "answered": "graded",  # without a score: viewed
    ADL + "experienced": "viewed",
}
REFUSED_VERBS = {ADL + "voided": "voiding statements is not supported"}
COURSE_TYPE = "http://adlnet.gov/expapi/activities/course"
LESSON_TYPES = {"http://adlnet.gov/expapi/activities/module", "http://adlnet.gov/expapi/activities/lesson",
                "http://id.tincanapi.com/activitytype/lesson"}
QUIZ_TYPES = {"http://adlnet.gov/expapi/activities/assessment", "http://adlnet.gov/expapi/activities/question",
              "http://adlnet.gov/expapi/activities/interaction", "http://adlnet.gov/expapi/activities/cmi.interaction",
              "http://id.tincanapi.com/activitytype/quiz"}
VIDEO_TYPES = {"http://adlnet.gov/expapi/activities/media", "https://w3id.org/xapi/video/activity-type/video",
               "http://activitystrea.ms/schema/1.0/video"}
ASSIGNMENT_TYPES = {"http://id.tincanapi.com/activitytype/assignment",
                    "http://adlnet.gov/expapi/activities/assignment"}
IGNORED_FOR_DIGEST = ("stored", "authority", "version")
TOP_KEYS = {"id", "actor", "verb", "object", "result", "context", "timestamp", "stored", "authority", "version",
            "attachments"}


def iri(value, field: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH or not value.isprintable() \
            or " " in value:
        raise bad(f"{field}: an IRI of at most {MAX_ID_LENGTH} characters is required")
    if not urlsplit(value).scheme:
        raise bad(f"{field}: an absolute IRI is required")
    return value


def course_ref(activity_id: str) -> str:
    """The course an activity IRI names: its last path segment (percent-decoded),
    a catalog course id or slug, or an Open edX course key (openedx_candidates)."""
    path = urlsplit(activity_id).path.rstrip("/")
    return unquote(path.rsplit("/", 1)[-1]) if path else ""


# Open edX keys: course-v1:ORG+COURSE+RUN (a course) and block-v1:ORG+COURSE+RUN+type@…+block@… (one of its
# blocks: problems, videos, sequentials), as event-routing-backends puts them in activity IRIs.
OPENEDX_COURSE = re.compile(r"^course-v1:([^+/\s]+)\+([^+/\s]+)\+([^+/\s]+)$")
OPENEDX_BLOCK = re.compile(r"block-v1:([^+/\s]+)\+([^+/\s]+)\+([^+/\s]+)\+type@")
MAX_COURSE_REF = 255


def openedx_candidates(ref: str) -> list[str]:
    """The catalog course ids or slugs an Open edX course key may name, in the
    order tried: the course code as it is (`course-v1:DeepLearningAI+ai-for-everyone+2026_T1` →
    `ai-for-everyone`), then as a slug (lower case, other characters than letters
    and digits → `-`: `AI_101` → `ai-101`). Empty for anything else."""
    found = OPENEDX_COURSE.match(ref)
    if not found:
        return []
    code = found.group(2)
    slug = re.sub(r"[^a-z0-9]+", "-", code.lower()).strip("-")
    return list(dict.fromkeys(c for c in (code, slug) if c))


def openedx_course_of_block(activity_id: str) -> str | None:
    """The course key of an Open edX block IRI (a statement without a course in its context)."""
    found = OPENEDX_BLOCK.search(unquote(activity_id))
    return f"course-v1:{found.group(1)}+{found.group(2)}+{found.group(3)}" if found else None


def activity_type(activity: dict) -> str | None:
    definition = activity.get("definition")
    if isinstance(definition, dict) and isinstance(definition.get("type"), str):
        return definition["type"]
    return None


NAME_LANGUAGES = ("en-US", "en", "en-GB")


def display_name(activity: dict) -> str | None:
    """An activity's `definition.name` (a language map): English where given,
    else the first language in tag order; whitespace collapsed, at most 500
    characters. The gradebooks show it as the Assessment."""
    definition = activity.get("definition")
    names = definition.get("name") if isinstance(definition, dict) else None
    if names is None:
        return None
    if not isinstance(names, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in names.items()):
        raise bad("object.definition.name: a language map ({\"en-US\": \"...\"})")
    for tag in (*NAME_LANGUAGES, *sorted(names)):
        value = " ".join("".join(c if c.isprintable() else " " for c in names.get(tag, "")).split())
        if value:
            return value[:MAX_ID_LENGTH]
    return None


def actor_of(actor) -> tuple[str | None, str | None]:
    if not isinstance(actor, dict) or actor.get("objectType", "Agent") != "Agent":
        raise bad("actor: an Agent is required (Groups are not supported)")
    mbox = actor.get("mbox")
    if mbox is not None:
        if not isinstance(mbox, str) or not mbox.lower().startswith("mailto:") or "@" not in mbox \
                or len(mbox) > 261 or not mbox.isprintable():
            raise bad("actor.mbox: mailto:address")
        return mbox[7:].strip().lower(), None
    account = actor.get("account")
    if isinstance(account, dict) and isinstance(account.get("name"), str):
        name = account["name"].strip()
        if "@" in name and len(name) <= 254 and name.isprintable():
            return name.lower(), None
        try:
            return None, str(uuid.UUID(name))
        except ValueError:
            raise bad("actor.account.name: the learner's user id (UUID) or email is required") from None
    raise bad("actor: mbox or account is required (mbox_sha1sum and openid are not supported)")


def _context_activities(raw: dict) -> list[dict]:
    context = raw.get("context")
    if context is None:
        return []
    if not isinstance(context, dict):
        raise bad("context: an object")
    found = []
    activities = context.get("contextActivities") or {}
    if not isinstance(activities, dict):
        raise bad("context.contextActivities: an object")
    for key in ("parent", "grouping"):
        value = activities.get(key)
        if value is None:
            continue
        value = value if isinstance(value, list) else [value]
        for activity in value:
            if not isinstance(activity, dict):
                raise bad(f"context.contextActivities.{key}: activities")
            iri(activity.get("id"), f"context.contextActivities.{key}.id")
            found.append(activity)
    return found


def parse(raw, now: datetime, max_future: timedelta) -> Parsed:
    an_object(raw, TOP_KEYS)
    sid = statement_id(raw["id"]) if "id" in raw else str(uuid.uuid4())
    email, user_id = actor_of(raw.get("actor"))
    verb = raw.get("verb")
    if not isinstance(verb, dict):
        raise bad("verb: an object with an id")
    verb_id = iri(verb.get("id"), "verb.id")
    if verb_id in REFUSED_VERBS:
        raise bad(f"verb: {REFUSED_VERBS[verb_id]}")
    obj = raw.get("object")
    if not isinstance(obj, dict) or obj.get("objectType", "Activity") != "Activity":
        raise bad("object: an Activity is required (Agents, Groups, SubStatements and StatementRefs are not)")
    object_id = iri(obj.get("id"), "object.id")
    parents = _context_activities(raw)
    kind = activity_type(obj)
    result = raw.get("result")
    if result is not None and not isinstance(result, dict):
        raise bad("result: an object")
    result = result or {}
    score = max_score = None
    if "score" in result:
        score, max_score = score_of(result["score"])
    success = result.get("success")
    if success is not None and not isinstance(success, bool):
        raise bad("result.success: true or false")

    mapped = VERB_MAP.get(verb_id, "viewed")
    if verb_id == ADL + "answered" and score is None:
        mapped = "viewed"
    if kind == COURSE_TYPE:
        object_type, item_id, lesson_id, item_type, item_name = "course", None, None, None, None
        course = course_ref(object_id)
        if mapped == "graded":
            raise bad("a course is not graded: send graded statements about its assessments")
    else:
        object_type, item_id = "item", object_id
        item_name = display_name(obj)
        courses = [a for a in parents if activity_type(a) == COURSE_TYPE] or parents[:1]
        if courses:
            course = course_ref(courses[0]["id"])
        else:
            course = openedx_course_of_block(object_id)
            if course is None:
                raise bad("context.contextActivities.parent or grouping: the course is required")
        lessons = [a for a in parents if activity_type(a) in LESSON_TYPES]
        lesson_id = lessons[0]["id"] if lessons else None
        item_type = ("quiz" if kind in QUIZ_TYPES else "video" if kind in VIDEO_TYPES
                     else "assignment" if kind in ASSIGNMENT_TYPES else "reading")
        if mapped == "graded":
            if score is None:
                raise bad("result.score: required for passed, failed and scored")
            if item_type not in ("quiz", "assignment"):
                item_type = "quiz"
    if not course or len(course) > (MAX_COURSE_REF if OPENEDX_COURSE.match(course) else 64):
        raise bad("the course activity's IRI must end in a catalog course id or slug")
    passed = None
    if mapped == "graded":
        passed = True if verb_id == ADL + "passed" else False if verb_id == ADL + "failed" else success
    else:
        score = max_score = None
    ts = timestamp(raw["timestamp"], now, max_future) if "timestamp" in raw else now
    content = {k: v for k, v in raw.items() if k not in IGNORED_FOR_DIGEST}
    row = Parsed(sid, email, user_id, mapped, object_type, item_id, course, lesson_id, item_type, score, max_score,
                 passed, None, ts, digest(content), "xapi", item_name=item_name)
    return row


def score_of(score) -> tuple[float, float]:
    if not isinstance(score, dict):
        raise bad("result.score: an object")
    if "raw" in score and "max" in score:
        raw_score, max_score = number(score["raw"], "result.score.raw"), number(score["max"], "result.score.max")
        minimum = number(score.get("min", 0), "result.score.min")
        if max_score <= minimum or not minimum <= raw_score <= max_score:
            raise bad("result.score: min <= raw <= max and min < max")
        return raw_score - minimum, max_score - minimum
    if "scaled" in score:
        scaled = number(score["scaled"], "result.score.scaled")
        if not -1 <= scaled <= 1:
            raise bad("result.score.scaled: from -1 to 1")
        return max(0.0, scaled) * 100.0, 100.0
    raise bad("result.score: raw and max, or scaled")


__all__ = ["parse", "Rejected"]
