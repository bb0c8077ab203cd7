"""Who an admin message goes to: a preset, narrowed by filters and by the
author's program scope.

Every preset yields rows (user_id, program_id, contract_id): a person's place
in a program (program_id NULL for an organization-level person). Filters and
scope then work the same way for every preset, so a new preset — the activity
ones (inactive for N days, completed a course) take the people reporting
names (an RPC to reporting, which owns learning activity: `activity`, the
service's reporting proxy, asked once per audience) — is one function added
to PRESETS."""
from dataclasses import dataclass, field, replace
from datetime import timedelta

from sqlalchemy import ARRAY, String, and_, any_, bindparam, exists, func, literal, null, select, union_all
from sqlalchemy.sql import Select

from contracts.errors import AppError, ErrorCode, invalid
from contracts.messaging import Preset as PresetName
from servicekit.clock import utcnow
from services.messaging.models import Enrollment, Invitation, Membership, Person, Program


@dataclass
class AudienceQuery:
    org_id: str
    preset: str
    program_ids: list[str] = field(default_factory=list)  # effective restriction (filters ∩ scope); [] = none
    restricted: bool = False  # True when program_ids must be applied (even if empty: nobody)
    contract_ids: list[str] = field(default_factory=list)
    course_ids: list[str] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list)
    days: int | None = None
    activity_user_ids: list[str] = field(default_factory=list)  # what reporting named for an activity preset


def _members(q: AudienceQuery) -> Select:
    return select(Membership.user_id, Membership.program_id, Membership.contract_id).where(
        Membership.org_id == q.org_id, Membership.active.is_(True))


def _invited(q: AudienceQuery) -> Select:
    joined = exists().where(Membership.program_id == Invitation.program_id, Membership.user_id == Invitation.user_id,
                            Membership.active.is_(True))
    return select(Invitation.user_id, Invitation.program_id, Invitation.contract_id).where(
        Invitation.org_id == q.org_id, Invitation.pending.is_(True), Invitation.user_id.is_not(None), ~joined)


def _joined_not_enrolled(q: AudienceQuery) -> Select:
    enrolled = exists().where(Enrollment.program_id == Membership.program_id, Enrollment.user_id == Membership.user_id,
                              Enrollment.active.is_(True))
    return _members(q).where(~enrolled)


def _enrolled(q: AudienceQuery):
    return exists().where(Enrollment.program_id == Membership.program_id, Enrollment.user_id == Membership.user_id,
                          Enrollment.active.is_(True))


def _named_by_reporting(q: AudienceQuery):
    """`Membership.user_id = ANY(:activity_user_ids)`: one array parameter whatever the
    number of people (an IN list of 100,000 would be 100,000 parameters to compile and send)."""
    return Membership.user_id == any_(bindparam("activity_user_ids", q.activity_user_ids, type_=ARRAY(String)))


def _inactive(q: AudienceQuery) -> Select:
    """Members with a current enrollment and no learning activity in the last `days` days."""
    return _members(q).where(_enrolled(q), ~_named_by_reporting(q))


def _completed(q: AudienceQuery) -> Select:
    """Members who completed one of the courses (filters.course_ids)."""
    return _members(q).where(_named_by_reporting(q))


ACTIVITY_PAGE = 10_000  # user ids per RPC answer (reporting's largest page)


def _pages(call) -> list[str]:
    """Every user id reporting names, asked a page at a time (`call(after, limit)`)."""
    found, after = [], None
    while True:
        page = call(after, ACTIVITY_PAGE)
        found += page["user_ids"]
        after = page["next_after"]
        if after is None:
            return found


def _active_since(reporting, q: AudienceQuery) -> list[str]:
    since = (utcnow() - timedelta(days=q.days)).isoformat()
    return _pages(lambda after, limit: reporting.active_learners(q.org_id, since, after, limit))


def _completers(reporting, q: AudienceQuery) -> list[str]:
    return _pages(lambda after, limit: reporting.course_completers(q.org_id, q.course_ids, after, limit))


def _custom(q: AudienceQuery) -> Select:
    pending = select(Invitation.user_id, Invitation.program_id, Invitation.contract_id).where(
        Invitation.org_id == q.org_id, Invitation.pending.is_(True), Invitation.user_id.is_not(None))
    people = select(Person.user_id, null().label("program_id"), null().label("contract_id")).where(
        Person.org_id == q.org_id)
    rows = union_all(_members(q), pending, people).subquery()
    return select(rows.c.user_id, rows.c.program_id, rows.c.contract_id).where(rows.c.user_id.in_(q.user_ids))


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    rows: object | None  # AudienceQuery -> Select of (user_id, program_id, contract_id); None: not available yet
    needs: tuple = ()
    activity: object | None = None  # (reporting proxy, AudienceQuery) -> user ids, for the activity presets


PRESETS = {
    p.name: p for p in (
        Preset(PresetName.ALL_MEMBERS, "All members", _members),
        Preset(PresetName.INVITED_NOT_JOINED, "Invited but not joined", _invited),
        Preset(PresetName.JOINED_NOT_ENROLLED, "Joined but not enrolled", _joined_not_enrolled),
        Preset(PresetName.CUSTOM, "A custom list of people", _custom, ("user_ids",)),
        # Activity presets: reporting names the people (active since, completed the courses).
        Preset(PresetName.INACTIVE_FOR_DAYS, "Enrolled but inactive for N days", _inactive, ("days",), _active_since),
        Preset(PresetName.COMPLETED_COURSE, "Completed a course", _completed, ("course_ids",), _completers),
    )
}


def presets() -> list[dict]:
    return [{"name": p.name, "label": p.label, "available": p.rows is not None, "needs": list(p.needs)}
            for p in PRESETS.values()]


def build_query(session, org_id: str, audience: dict, program_scope: list[str] | None,
                activity=None) -> AudienceQuery:
    """Check the audience against the organization and the author's scope
    (`activity`: reporting's proxy, for the activity presets)."""
    preset = PRESETS[audience["preset"]]
    if preset.rows is None or (preset.activity is not None and activity is None):
        raise AppError(ErrorCode.RULE_VIOLATION, f"the {preset.name} audience is not available here",
                       {"preset": ["needs learning activity (reporting service)"]})
    filters = audience.get("filters") or {}
    missing = [need for need in preset.needs
               if not (audience.get(need) if need != "course_ids" else filters.get("course_ids"))]
    if missing:
        raise invalid({need: [f"required by the {preset.name} audience"] for need in missing})
    wanted = list(dict.fromkeys(filters.get("program_ids") or []))
    if wanted:
        known = set(session.scalars(select(Program.id).where(Program.org_id == org_id, Program.id.in_(wanted),
                                                             Program.removed.is_(False))))
        outside = [p for p in wanted if p not in known or (program_scope is not None and p not in program_scope)]
        if outside:
            raise AppError(ErrorCode.NOT_FOUND, "program not found", {"program_ids": outside})
    if program_scope is not None:
        effective, restricted = (wanted or list(program_scope)), True
    else:
        effective, restricted = wanted, bool(wanted)
    query = AudienceQuery(org_id=org_id, preset=preset.name, program_ids=effective, restricted=restricted,
                          contract_ids=filters.get("contract_ids") or [], course_ids=filters.get("course_ids") or [],
                          user_ids=list(dict.fromkeys(audience.get("user_ids") or [])), days=audience.get("days"))
    if preset.activity is not None:
        query.activity_user_ids = list(preset.activity(activity, query))
    return query


def recipients(q: AudienceQuery) -> Select:
    """Distinct people (user_id, email, full_name) of the audience."""
    rows = PRESETS[q.preset].rows(q).subquery()
    conditions = [Person.org_id == q.org_id, Person.user_id == rows.c.user_id]
    if q.restricted:
        conditions.append(rows.c.program_id.in_(q.program_ids) if q.program_ids else literal(False))
    if q.contract_ids:
        conditions.append(rows.c.contract_id.in_(q.contract_ids))
    if q.course_ids:
        enrolled = [Enrollment.org_id == q.org_id, Enrollment.user_id == rows.c.user_id, Enrollment.active.is_(True),
                    Enrollment.course_id.in_(q.course_ids)]
        if q.restricted:
            enrolled.append(Enrollment.program_id.in_(q.program_ids))
        conditions.append(exists().where(and_(*enrolled)))
    return (select(Person.user_id, Person.email, Person.full_name).distinct(Person.email)
            .where(*conditions).order_by(Person.email))


def count(session, q: AudienceQuery) -> int:
    return session.scalar(select(func.count()).select_from(recipients(q).subquery()))


def check_custom(session, q: AudienceQuery) -> None:
    """A custom list may name only people the author can reach."""
    if q.preset != PresetName.CUSTOM:
        return
    reachable = replace(q, contract_ids=[], course_ids=[])  # filters may narrow the list; scope may not
    found = set(session.scalars(select(recipients(reachable).subquery().c.user_id)))
    outside = [u for u in q.user_ids if u not in found]
    if outside:
        raise invalid({"user_ids": [f"not in your audience: {', '.join(outside[:20])}"]},
                      "some people are unknown or outside your programs")


def checked(session, org_id: str, audience: dict, program_scope: list[str] | None, activity=None) -> AudienceQuery:
    """The audience's query, refused if it names anything the author cannot reach."""
    query = build_query(session, org_id, audience, program_scope, activity)
    check_custom(session, query)
    return query
