"""Native learning statements (docs/api.md "Activity"): checked one by one in
plain Python, no database and no marshmallow (a batch of 1,000 is checked in
a few milliseconds; docs/reporting.md has the measurement).

`parse(raw, now)` answers a `Parsed` row or raises `Rejected(code, message)`.
Rejections are stable codes, reported by the statement's index."""
import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from servicekit.models import normalize_email

VERBS = ("started", "completed", "graded", "viewed")
ITEM_TYPES = ("video", "reading", "quiz", "assignment")
GRADED_ITEM_TYPES = ("quiz", "assignment")
CATALOG_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
MAX_ID_LENGTH = 500
MAX_STATEMENTS = 1000

INVALID_STATEMENT = "INVALID_STATEMENT"
UNKNOWN_LEARNER = "UNKNOWN_LEARNER"
UNKNOWN_COURSE = "UNKNOWN_COURSE"
ID_CONFLICT = "ID_CONFLICT"


class Rejected(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class Parsed:
    """A statement as stored (before its learner is resolved)."""
    statement_id: str
    email: str | None
    user_id: str | None
    verb: str
    object_type: str
    item_id: str | None
    course_id: str
    lesson_id: str | None
    item_type: str | None
    score: float | None
    max_score: float | None
    passed: bool | None
    attempt: int | None
    ts: datetime
    digest: str | None = None
    source: str = "native"
    credit_us: int | None = None  # set when stored (commands/activity.py)
    session_start: bool | None = None
    item_name: str | None = None  # the item's name as the platform calls it (gradebooks' Assessment)


def bad(message: str) -> Rejected:
    return Rejected(INVALID_STATEMENT, message)


CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def statement_id(value, field: str = "id") -> str:
    if not isinstance(value, str) or len(value) > 64:
        raise bad(f"{field}: a UUID is required")
    if CANONICAL_UUID.fullmatch(value):  # as str(uuid.UUID(value)) would write it (a third of the time)
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise bad(f"{field}: a UUID is required") from None


def text_id(value, field: str, required: bool = True, max_length: int = MAX_ID_LENGTH) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > max_length or not value.isprintable():
        raise bad(f"{field}: a non-empty printable string of at most {max_length} characters is required")
    return value


def course_id(value, field: str = "object.course_id") -> str:
    if not isinstance(value, str) or not CATALOG_ID.match(value):
        raise bad(f"{field}: not a catalog course id")
    return value


def timestamp(value, now: datetime, max_future: timedelta, field: str = "timestamp") -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise bad(f"{field}: an ISO-8601 time with a time zone is required")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise bad(f"{field}: an ISO-8601 time with a time zone is required") from None
    if parsed.tzinfo is None:
        raise bad(f"{field}: give the time zone (e.g. Z)")
    if parsed.year < 1970:
        raise bad(f"{field}: before 1970")
    if parsed - now > max_future:
        raise bad(f"{field}: in the future")
    return parsed


def number(value, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or abs(value) > 1e9:
        raise bad(f"{field}: a number is required")
    return float(value)


def actor_of(actor) -> tuple[str | None, str | None]:
    if not isinstance(actor, dict) or len(actor) != 1:
        raise bad("actor: give exactly one of email and user_id")
    if "email" in actor:
        email = actor["email"]
        if not isinstance(email, str) or "@" not in email or len(email) > 254 or not email.isprintable():
            raise bad("actor.email: an email address is required")
        return normalize_email(email), None
    if "user_id" in actor:
        return None, statement_id(actor["user_id"], "actor.user_id")
    raise bad("actor: give exactly one of email and user_id")


NATIVE_KEYS = {"id", "actor", "verb", "object", "result", "timestamp"}
ITEM_KEYS = {"type", "id", "course_id", "lesson_id", "item_type", "name"}
RESULT_KEYS = {"score", "max_score", "passed", "attempt"}


def an_object(raw, allowed: set[str]) -> dict:
    """A statement: an object with no other keys than `allowed`."""
    if not isinstance(raw, dict):
        raise bad("a statement is an object")
    if raw.keys() <= allowed:
        return raw
    unknown = set(raw) - allowed
    if unknown:
        raise bad(f"unknown field(s): {', '.join(sorted(map(str, unknown)))[:200]}")
    return raw


def parse(raw, now: datetime, max_future: timedelta) -> Parsed:
    """One native statement, or Rejected."""
    an_object(raw, NATIVE_KEYS)
    sid = statement_id(raw.get("id"))
    email, user_id = actor_of(raw.get("actor"))
    verb = raw.get("verb")
    if verb not in VERBS:
        raise bad(f"verb: one of {', '.join(VERBS)}")
    obj = raw.get("object")
    if not isinstance(obj, dict):
        raise bad("object: an object is required")
    kind = obj.get("type")
    item_id = lesson_id = item_type = item_name = None
    if kind == "item":
        if not obj.keys() <= ITEM_KEYS:
            raise bad("object: unknown field(s)")
        item_id = text_id(obj.get("id"), "object.id")
        course = course_id(obj.get("course_id"))
        lesson_id = text_id(obj.get("lesson_id"), "object.lesson_id", required=False)
        item_name = text_id(obj.get("name"), "object.name", required=False)
        item_type = obj.get("item_type")
        if item_type not in ITEM_TYPES:
            raise bad(f"object.item_type: one of {', '.join(ITEM_TYPES)}")
    elif kind == "course":
        if set(obj) - {"type", "id"}:
            raise bad("object: a course object has only type and id")
        course = course_id(obj.get("id"), "object.id")
    else:
        raise bad("object.type: item or course")
    score = max_score = passed = attempt = None
    result = raw.get("result")
    if verb == "graded":
        if kind != "item" or item_type not in GRADED_ITEM_TYPES:
            raise bad("verb graded: the object is a quiz or assignment item")
        if not isinstance(result, dict) or not result.keys() <= RESULT_KEYS:
            raise bad("result: score and max_score are required (passed, attempt optional)")
        score = number(result.get("score"), "result.score")
        max_score = number(result.get("max_score"), "result.max_score")
        if max_score <= 0 or not 0 <= score <= max_score:
            raise bad("result: 0 <= score <= max_score and max_score > 0")
        passed = result.get("passed")
        if passed is not None and not isinstance(passed, bool):
            raise bad("result.passed: true or false")
        attempt = result.get("attempt")
        if attempt is not None and (isinstance(attempt, bool) or not isinstance(attempt, int)
                                    or not 1 <= attempt <= 10_000):
            raise bad("result.attempt: an integer from 1")
    elif result is not None:
        raise bad("result: only for verb graded")
    ts = timestamp(raw.get("timestamp"), now, max_future)
    return Parsed(sid, email, user_id, verb, kind, item_id, course, lesson_id, item_type, score, max_score,
                  passed, attempt, ts, item_name=item_name)


def digest(raw: dict) -> str:
    """A statement's content as a stable hash (key order and spacing ignored)."""
    return hashlib.sha256(json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                                     default=str).encode()).hexdigest()[:64]
