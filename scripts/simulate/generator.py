"""The simulated learning platform's activity: pure functions, no I/O.

A learner enrolled in a course works through its items in order, in sessions
(consecutive statements at most MAX_GAP_IN_SESSION apart; sessions at least
MIN_GAP_BETWEEN_SESSIONS apart, usually days): an item is `started`, then
`completed`; a quiz or assignment is `graded` (score, max_score, passed,
attempt) and completed only once passed; a failed attempt is usually retried
(in the same session or the next). Once every item is completed the course is
`completed`. Some learners stop early (the plan's `engagement`).

Everything is derived from `random.Random(<seed>|<org>|<user>|<course>)` and
from times *relative* to the period's start, and statement ids are uuid5 of
(seed, org, user, course, position in the plan): the same inputs give the
same statements whatever the day of the run (only the absolute times move),
so sending them again is a no-op for an idempotent ingestion.

The catalog has counts, not items: lesson and item ids are derived from the
course id (`<course>-l01`, `<course>-l01-i001`), never more than the course's
item_count items nor lesson_count lessons.
"""
import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

NAMESPACE = uuid.UUID("5d1c1a2e-6b0e-4f7e-9a57-3c3f1f6d0b13")  # of the simulator's statement ids
MAX_GAP_IN_SESSION = timedelta(minutes=40)  # reporting splits sessions at 60 minutes
MIN_GAP_BETWEEN_SESSIONS = timedelta(hours=2)
PASS_SHARE = {"quiz": 0.8, "assignment": 0.7}
MAX_SCORE = {"quiz": 10, "assignment": 100}
MAX_ATTEMPTS = 3
# minutes an item takes (low, high), all under MAX_GAP_IN_SESSION
ITEM_MINUTES = {"video": (4, 15), "reading": (3, 12), "quiz": (6, 20), "assignment": (15, 38)}


@dataclass(frozen=True)
class Course:
    id: str
    item_count: int
    lesson_count: int
    graded_item_count: int = 0
    estimated_hours: float = 0.0

    @classmethod
    def from_catalog(cls, row: dict) -> "Course":
        return cls(row["id"], int(row.get("item_count") or 0), int(row.get("lesson_count") or 0),
                   int(row.get("graded_item_count") or 0), float(row.get("estimated_hours") or 0))


@dataclass(frozen=True)
class Item:
    id: str
    lesson_id: str
    item_type: str  # video | reading | quiz | assignment

    @property
    def graded(self) -> bool:
        return self.item_type in ("quiz", "assignment")

    @property
    def name(self) -> str:
        """What a learning platform calls it ("Lesson 2 Quiz (item 7)"): the gradebooks' Assessment."""
        lesson, number = self.lesson_id.rsplit("-l", 1)[-1], self.id.rsplit("-i", 1)[-1]
        return f"Lesson {int(lesson)} {self.item_type.capitalize()} (item {int(number)})"


@dataclass(frozen=True)
class Learner:
    user_id: str
    email: str | None = None


@dataclass
class Plan:
    """What one learner does in one course (for tests and the summary)."""
    engagement: str  # completes | partial | light
    statements: list[dict] = field(default_factory=list)
    completed_items: int = 0
    completed_course: bool = False


def course_items(course: Course) -> list[Item]:
    """The course's items in order: item_count of them in lesson_count lessons; graded_item_count of them
    (the last of evenly spread chunks) are quizzes, every third graded one and the last an assignment."""
    n = max(0, course.item_count)
    if n == 0:
        return []
    lessons = max(1, min(course.lesson_count or 1, n))
    graded_count = min(max(0, course.graded_item_count), n)
    graded_at = {round((g + 1) * n / graded_count) - 1 for g in range(graded_count)} if graded_count else set()
    graded_order = sorted(graded_at)
    items = []
    for index in range(n):
        lesson = 1 + index * lessons // n
        if index in graded_at:
            rank = graded_order.index(index)
            kind = "assignment" if rank % 3 == 2 or rank == len(graded_order) - 1 else "quiz"
        else:
            kind = "reading" if index % 3 == 2 else "video"
        lesson_id = f"{course.id}-l{lesson:02d}"
        items.append(Item(f"{lesson_id}-i{index + 1:03d}", lesson_id, kind))
    return items


def statement_id(seed: str, org_id: str, user_id: str, course_id: str, position: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{seed}|{org_id}|{user_id}|{course_id}|{position}"))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def learner_rng(seed: str, org_id: str, user_id: str, course_id: str = "") -> random.Random:
    return random.Random(f"{seed}|{org_id}|{user_id}|{course_id}")


def plan_course(seed: str, org_id: str, learner: Learner, course: Course, period_end: datetime, days: int = 90,
                start_after_days: float = 0.0) -> Plan:
    """One learner's activity in one course between period_end - days and period_end.

    Times are drawn relative to the period's start and the plan is cut at its
    end, so the same (seed, org, user, course, days) give the same statements
    (ids and relative times) for any period_end. `start_after_days`: the
    earliest day of the period the learner starts (courses of a specialization
    follow one another)."""
    rng = learner_rng(seed, org_id, learner.user_id, course.id)
    person = learner_rng(seed, org_id, learner.user_id)  # the learner's habits, the same in every course
    utc_offset_hours = person.choice([-8, -5, -5, -4, 0, 1, 1, 2, 5.5, 8, 9])
    ability = min(0.98, max(0.45, person.gauss(0.86, 0.08)))
    day_hours = sorted(person.sample(range(7, 22), 3))  # the learner's usual hours (local time)

    draw = rng.random()
    engagement = "completes" if draw < 0.35 else "partial" if draw < 0.78 else "light"
    items = course_items(course)
    if engagement == "completes":
        target = len(items)
    elif engagement == "partial":
        target = max(1, round(len(items) * rng.uniform(0.2, 0.9)))
    else:
        target = min(len(items), rng.randint(1, 3))

    period_start = period_end - timedelta(days=days)
    span = max(1.0, days - start_after_days)
    first_day = start_after_days + rng.uniform(0, span * 0.6)
    plan = Plan(engagement)
    position = 0
    completed: list[Item] = []
    videos_done: list[Item] = []
    now_rel = timedelta(days=math.floor(first_day))

    def emit(verb: str, at: timedelta, obj: dict, result: dict | None = None) -> None:
        nonlocal position
        statement = {"id": statement_id(seed, org_id, learner.user_id, course.id, position),
                     "actor": {"user_id": learner.user_id}, "verb": verb, "object": obj,
                     "timestamp": iso(period_start + at)}
        if result is not None:
            statement["result"] = result
        plan.statements.append(statement)
        position += 1

    def item_object(item: Item) -> dict:
        return {"type": "item", "id": item.id, "course_id": course.id, "lesson_id": item.lesson_id,
                "item_type": item.item_type, "name": item.name}

    def session_start(after: timedelta, min_days: float, max_days: float) -> timedelta:
        """At one of the learner's usual local hours, some days after `after`."""
        day = math.floor((after + timedelta(days=rng.uniform(min_days, max_days))).total_seconds() / 86400)
        hour = rng.choice(day_hours) - utc_offset_hours
        start = timedelta(days=day, hours=hour, minutes=rng.randint(0, 59), seconds=rng.randint(0, 59),
                          milliseconds=rng.randint(0, 999))
        return max(start, after + MIN_GAP_BETWEEN_SESSIONS)

    end_rel = timedelta(days=days)
    index = 0
    attempts: dict[str, int] = {}
    t = session_start(now_rel, 0, 0.99)
    while index < target:
        if t >= end_rel:
            break
        # one session: a few items, statements at most MAX_GAP_IN_SESSION apart
        budget = max(1, round(rng.gauss(4, 2)))
        if videos_done and rng.random() < 0.15:  # a look back at a video already watched
            emit("viewed", t, item_object(rng.choice(videos_done)))
            t += timedelta(minutes=rng.uniform(2, 9))
        while budget > 0 and index < target and t < end_rel:
            item = items[index]
            low, high = ITEM_MINUTES[item.item_type]
            emit("started", t, item_object(item))
            t += timedelta(minutes=rng.uniform(low, high), milliseconds=rng.randint(0, 999))
            if item.graded:
                attempt = attempts.get(item.id, 0) + 1
                attempts[item.id] = attempt
                top = MAX_SCORE[item.item_type]
                share = min(1.0, max(0.0, rng.gauss(ability + 0.07 * (attempt - 1), 0.1)))
                score = round(top * share)
                passed = score >= math.ceil(top * PASS_SHARE[item.item_type])
                emit("graded", t, item_object(item),
                     {"score": score, "max_score": top, "passed": passed, "attempt": attempt})
                if not passed:
                    if attempt >= MAX_ATTEMPTS or (engagement != "completes" and rng.random() < 0.1):  # gives up
                        target = index
                        break
                    if rng.random() < 0.5:  # retries now, after a short pause
                        t += timedelta(minutes=rng.uniform(2, 10))
                        budget -= 1
                        continue
                    budget = 0  # retries next session
                    break
                t += timedelta(seconds=rng.uniform(1, 5))
            emit("completed", t, item_object(item))
            completed.append(item)
            if item.item_type == "video":
                videos_done.append(item)
            index += 1
            budget -= 1
            t += timedelta(minutes=rng.uniform(0.2, 4))
        if index >= len(items) and items and t < end_rel:
            emit("completed", t, {"type": "course", "id": course.id})
            plan.completed_course = True
            break
        t = session_start(t, 0.5, 6.5 if engagement != "light" else 12)
    plan.completed_items = len(completed)
    plan.statements = [s for s in plan.statements if s["timestamp"] <= iso(period_end)]
    return plan


def learner_statements(seed: str, org_id: str, learner: Learner, courses: list[Course], period_end: datetime,
                       days: int = 90) -> list[dict]:
    """Every statement of one learner over the period for their enrolled courses (a specialization's courses
    in order: each starts a few weeks after the previous), sorted by time."""
    statements = []
    for rank, course in enumerate(courses):
        plan = plan_course(seed, org_id, learner, course, period_end, days, start_after_days=min(days * 0.8,
                                                                                                 rank * 9.0))
        statements.extend(plan.statements)
    statements.sort(key=lambda s: (s["timestamp"], s["id"]))
    return statements


def default_period_end(now: datetime | None = None) -> datetime:
    """A few minutes before now: the period's statements are never in the future."""
    now = now or datetime.now(UTC)
    return now.replace(second=0, microsecond=0) - timedelta(minutes=5)


# ---------------------------------------------------------------------- load mode


def load_statements(count: int, learners: list[Learner], courses: list[Course], *, seed: str | None = None,
                    period_end: datetime | None = None, days: int = 90, run: int = 20) -> list[dict]:
    """`count` cheap statements for load tests: runs of `run` consecutive statements of one learner in one
    course (a session's worth, as a platform sends them), learners and courses round-robin, in time order
    over the period. A batch of 1,000 thus holds 1,000 / run learners, and batches sent at once hold
    different learners (unless there are few). Fresh random ids unless `seed` (then the same ids every
    run)."""
    if not learners or not courses:
        raise ValueError("load mode needs at least one learner and one course")
    rng = random.Random(seed if seed is not None else uuid.uuid4().hex)
    period_end = period_end or default_period_end()
    start = period_end - timedelta(days=days)
    layouts = [(course, course_items(course)) for course in courses if course.item_count > 0]
    if not layouts:
        raise ValueError("load mode needs a course with items")
    statements = []
    seconds = days * 86400
    for n in range(count):
        block = n // max(1, run)
        learner = learners[block % len(learners)]
        course, items = layouts[(block // len(learners) + block) % len(layouts)]
        item = items[rng.randrange(len(items))]
        verb = "graded" if item.graded and n % 2 else ("started", "completed")[n % 2]
        statement = {"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "actor": {"user_id": learner.user_id},
                     "verb": verb, "object": {"type": "item", "id": item.id, "course_id": course.id,
                                              "lesson_id": item.lesson_id, "item_type": item.item_type},
                     "timestamp": iso(start + timedelta(seconds=seconds * n / count + rng.random()))}
        if verb == "graded":
            top = MAX_SCORE[item.item_type]
            score = rng.randint(0, top)
            statement["result"] = {"score": score, "max_score": top,
                                   "passed": score >= math.ceil(top * PASS_SHARE[item.item_type]), "attempt": 1}
        statements.append(statement)
    return statements
