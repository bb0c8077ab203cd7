"""The ten views (docs/skills.md "Views"), answered from the precomputed
aggregates (skill_stats, hours_histogram, mastery_days, benchmark_snapshots)
for the whole organization, and from the learner-skill rows of a program's
members when a view is filtered by program.

Every list is paginated with the kit's opaque keyset cursor; small lists
(one row per skill) are ordered and cut here, the leaderboard in SQL."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy import text

from contracts.errors import not_found
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from servicekit.pagination import check_limit, decode_cursor, encode_cursor
from services.skills.commands.ratings import HOURS_BUCKETS_PER_HOUR, MAX_HOURS_BUCKET
from services.skills.rating import percentile_rank, quartile
from services.skills.settings import SkillsSettings

LEVELS = ("BEGINNER", "INTERMEDIATE", "ADVANCED")


def page_of(rows: list[dict], key, kinds: tuple, cursor: str | None, limit: int) -> dict:
    """Rows ordered by `key(row)` after the cursor's key: {items, next_cursor}."""
    limit = check_limit(limit)
    after = decode_cursor(cursor, kinds)
    rows = sorted(rows, key=key)
    if after is not None:
        rows = [r for r in rows if key(r) > tuple(after)]
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next_cursor": encode_cursor(key(rows[-1])) if more and rows else None}


def require_program(uow: UnitOfWork, org_id: str, program_id: str) -> None:
    """NOT_FOUND when skills knows the program as another organization's (members or
    curriculum events). A program it has heard nothing of yet filters to nothing."""
    owner = uow.read(text(
        "SELECT org_id::text FROM program_curricula WHERE program_id = CAST(:p AS uuid) UNION ALL "
        "SELECT org_id::text FROM program_members WHERE program_id = CAST(:p AS uuid) LIMIT 1"),
        {"p": program_id}).scalar()
    if owner is not None and owner != org_id:
        raise not_found("program")


def skills_by_id(uow: UnitOfWork) -> dict:
    return {r.id: {"skill_id": r.id, "skill": r.name, "domain": r.domain} for r in uow.read(text(
        "SELECT id, name, domain FROM skills")).all()}


def _members_filter(program_id: str | None, alias: str = "ls") -> str:
    if program_id is None:
        return ""
    return (f" AND EXISTS (SELECT 1 FROM program_members pm WHERE pm.program_id = CAST(:program_id AS uuid) "
            f"AND pm.user_id = {alias}.user_id AND pm.org_id = {alias}.org_id)")


def skill_stats(uow: UnitOfWork, org_id: str, program_id: str | None) -> list[dict]:
    """Per skill: learners with a score, per level, score sum, attempts, hours."""
    if program_id is None:
        sql = ("SELECT skill_id, learners, beginner, intermediate, advanced, score_sum, attempts, hours_learners, "
               "hours_sum FROM skill_stats WHERE org_id = :org_id")
    else:
        sql = ("SELECT skill_id, count(level) AS learners, count(*) FILTER (WHERE level = 'BEGINNER') AS beginner, "
               "count(*) FILTER (WHERE level = 'INTERMEDIATE') AS intermediate, "
               "count(*) FILTER (WHERE level = 'ADVANCED') AS advanced, coalesce(sum(score), 0) AS score_sum, "
               "sum(attempts) AS attempts, count(*) FILTER (WHERE hours > 0) AS hours_learners, "
               "sum(hours) AS hours_sum FROM learner_skills ls WHERE org_id = :org_id"
               + _members_filter(program_id) + " GROUP BY skill_id")
    return [dict(r._mapping) for r in uow.read(text(sql), {"org_id": org_id, "program_id": program_id}).all()]


def _named(stats: list[dict], names: dict) -> list[dict]:
    return [{**names[s["skill_id"]], **s} for s in stats if s["skill_id"] in names]


def distribution(uow, org_id, program_id, limit, cursor) -> dict:
    """Learners per level, top skills (most learners holding a score) first."""
    rows = [{"skill_id": s["skill_id"], "skill": s["skill"], "domain": s["domain"], "learners": s["learners"],
             "beginner": s["beginner"], "intermediate": s["intermediate"], "advanced": s["advanced"]}
            for s in _named(skill_stats(uow, org_id, program_id), skills_by_id(uow)) if s["learners"] > 0]
    return page_of(rows, lambda r: (-r["learners"], r["skill_id"]), (int, str), cursor, limit)


def assessments(uow, org_id, program_id, limit, cursor) -> dict:
    """Graded attempts per skill: total, and average per learner with a score."""
    rows = [{"skill_id": s["skill_id"], "skill": s["skill"], "domain": s["domain"], "total": int(s["attempts"]),
             "learners": s["learners"], "average": round(s["attempts"] / s["learners"], 2)}
            for s in _named(skill_stats(uow, org_id, program_id), skills_by_id(uow)) if s["learners"] > 0]
    return page_of(rows, lambda r: (-r["total"], r["skill_id"]), (int, str), cursor, limit)


def hours(uow, org_id, program_id, limit, cursor) -> dict:
    """Average learning hours in a skill's courses over the learners with any."""
    rows = [{"skill_id": s["skill_id"], "skill": s["skill"], "domain": s["domain"],
             "learners": s["hours_learners"], "total_hours": round(float(s["hours_sum"]), 2),
             "average_hours": round(float(s["hours_sum"]) / s["hours_learners"], 2)}
            for s in _named(skill_stats(uow, org_id, program_id), skills_by_id(uow)) if s["hours_learners"] > 0]
    return page_of(rows, lambda r: (-r["learners"], r["skill_id"]), (int, str), cursor, limit)


def hours_to_mastery(uow, org_id, program_id, limit, cursor) -> dict:
    """Median learning hours of the learners at each level, per skill (top skills first):
    the lower median of the half-hour histogram, as its bucket's lower bound. The
    medians are found in SQL (a running sum per skill and level): one row per skill
    and level comes back, not every bucket."""
    names = skills_by_id(uow)
    stats = {s["skill_id"]: s for s in skill_stats(uow, org_id, program_id) if s["learners"] > 0}
    ranked = page_of([{"skill_id": k, "learners": s["learners"]} for k, s in stats.items() if k in names],
                     lambda r: (-r["learners"], r["skill_id"]), (int, str), cursor, limit)
    wanted = [r["skill_id"] for r in ranked["items"]]
    if program_id is None:
        source = ("SELECT skill_id, level, bucket, learners FROM hours_histogram WHERE org_id = :org_id "
                  "AND skill_id = ANY(:skills) AND learners > 0")
    else:
        source = ("SELECT skill_id, level, LEAST(floor(hours * :per)::int, :most) AS bucket, count(*) AS learners "
                  "FROM learner_skills ls WHERE org_id = :org_id AND skill_id = ANY(:skills) AND level IS NOT NULL "
                  "AND hours > 0" + _members_filter(program_id) + " GROUP BY 1, 2, 3")
    rows = uow.read(text(
        "SELECT DISTINCT ON (skill_id, level) skill_id, level, total, bucket FROM ("
        "SELECT skill_id, level, bucket, sum(learners) OVER (PARTITION BY skill_id, level ORDER BY bucket) AS seen, "
        f"sum(learners) OVER (PARTITION BY skill_id, level) AS total FROM ({source}) h) t "
        "WHERE seen >= (total::bigint + 1) / 2 ORDER BY skill_id, level, bucket"),  # the lower median
        {"org_id": org_id, "skills": wanted, "program_id": program_id, "per": HOURS_BUCKETS_PER_HOUR,
         "most": MAX_HOURS_BUCKET}).all()
    medians = {(r.skill_id, r.level): (int(r.total), r.bucket / HOURS_BUCKETS_PER_HOUR) for r in rows}
    items = []
    for skill_id in wanted:
        levels = {}
        for level in LEVELS:
            learners, median = medians.get((skill_id, level), (0, None))
            levels[level.lower()] = {"learners": learners, "median_hours": median}
        items.append({**names[skill_id], **levels})
    return {"items": items, "next_cursor": ranked["next_cursor"]}


def mastery_over_time(uow, org_id, program_id, since: date | None, interval: str, limit, cursor) -> dict:
    """Per skill (skills with scored learners, by id): how many learners had reached
    Intermediate (or higher) and Advanced by the end of each period (day, week or month,
    labelled by its first day) since `since` (default: a year ago), where the counts changed."""
    since = since or (utcnow().date() - timedelta(days=365))
    names = skills_by_id(uow)
    candidates = [{"skill_id": s["skill_id"]} for s in skill_stats(uow, org_id, program_id)
                  if s["learners"] > 0 and s["skill_id"] in names]
    page = page_of(candidates, lambda r: (r["skill_id"],), (str,), cursor, limit)
    wanted = [r["skill_id"] for r in page["items"]]
    if program_id is None:
        source = "SELECT skill_id, level, day, learners FROM mastery_days WHERE org_id = :org_id " \
                 "AND skill_id = ANY(:skills)"
    else:
        source = ("SELECT skill_id, 'INTERMEDIATE' AS level, (intermediate_at AT TIME ZONE 'UTC')::date AS day, "
                  "1 AS learners FROM learner_skills ls WHERE org_id = :org_id AND skill_id = ANY(:skills) "
                  "AND intermediate_at IS NOT NULL" + _members_filter(program_id) + " UNION ALL "
                  "SELECT skill_id, 'ADVANCED', (advanced_at AT TIME ZONE 'UTC')::date, 1 FROM learner_skills ls "
                  "WHERE org_id = :org_id AND skill_id = ANY(:skills) AND advanced_at IS NOT NULL"
                  + _members_filter(program_id))
    rows = uow.read(text(
        "SELECT skill_id, level, CASE WHEN day < :since THEN NULL "
        "ELSE CAST(date_trunc(:interval, day) AS date) END AS period, sum(learners) AS learners "
        f"FROM ({source}) t GROUP BY 1, 2, 3"),
        {"org_id": org_id, "skills": wanted, "program_id": program_id, "since": since,
         "interval": interval}).all()
    per_skill: dict = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for skill_id, level, period, n in rows:
        per_skill[skill_id][period or date.min][0 if level == "INTERMEDIATE" else 1] += int(n)
    items = []
    for skill_id in wanted:
        periods = per_skill.get(skill_id, {})
        intermediate = advanced = 0
        series = []
        for period in sorted(periods):
            intermediate += periods[period][0]
            advanced += periods[period][1]
            if period != date.min:
                series.append({"date": period.isoformat(), "intermediate": intermediate, "advanced": advanced})
        if not series and (intermediate or advanced):
            series.append({"date": since.isoformat(), "intermediate": intermediate, "advanced": advanced})
        items.append({**names[skill_id], "series": series})
    return {"items": items, "next_cursor": page["next_cursor"]}


def leaderboard(uow, org_id, program_id, skill_id, domain, anonymize: bool, limit, cursor) -> dict:
    """Learners at Intermediate or Advanced: by skill, Advanced first, then by user id."""
    limit = check_limit(limit)
    after = decode_cursor(cursor, (str, int, str))
    where = ["ls.org_id = :org_id", "ls.level_order IN (1, 2)"]
    params = {"org_id": org_id, "program_id": program_id, "limit": limit + 1}
    if skill_id:
        where.append("ls.skill_id = :skill_id")
        params["skill_id"] = skill_id
    if domain:
        where.append("s.domain = :domain")
        params["domain"] = domain
    if after is not None:
        where.append("(ls.skill_id, ls.level_order, ls.user_id) > (:a_skill, :a_order, :a_user)")
        params.update(a_skill=after[0], a_order=after[1], a_user=after[2])
    rows = uow.read(text(
        "SELECT ls.skill_id, ls.level_order, ls.user_id, ls.level, ls.score, s.name AS skill, s.domain, "
        "p.full_name, p.email FROM learner_skills ls JOIN skills s ON s.id = ls.skill_id "
        "LEFT JOIN people p ON p.org_id = ls.org_id AND p.user_id = ls.user_id WHERE "
        + " AND ".join(where) + _members_filter(program_id)
        + " ORDER BY ls.skill_id, ls.level_order, ls.user_id LIMIT :limit"), params).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{"domain": r.domain, "skill_id": r.skill_id, "skill": r.skill, "user_id": None if anonymize else r.user_id,
              "name": None if anonymize else r.full_name, "email": None if anonymize else r.email,
              "level": r.level, "score": round(r.score, 1), "anonymized": anonymize} for r in rows]
    last = rows[-1] if rows else None
    return {"items": items,
            "next_cursor": encode_cursor((last.skill_id, last.level_order, last.user_id)) if more and last else None}


def relevant_courses(uow, org_id, program_id, per_level: int, limit, cursor) -> dict:
    """Per skill, the most relevant courses at each level among the courses the
    organization's programs (or the one program) offer."""
    scope = "program_id = CAST(:program_id AS uuid)" if program_id else "org_id = :org_id"
    rows = uow.read(text(
        "SELECT cs.skill_id, cs.level, cs.course_id, cs.relevance, c.name FROM course_skills cs "
        "JOIN courses c ON c.id = cs.course_id WHERE cs.course_id IN "
        f"(SELECT course_id FROM program_courses WHERE {scope} AND org_id = :org_id) "
        "ORDER BY cs.skill_id, cs.level, cs.relevance DESC, c.name"),
        {"org_id": org_id, "program_id": program_id}).all()
    names = skills_by_id(uow)
    per_skill: dict = defaultdict(lambda: {level.lower(): [] for level in LEVELS})
    for r in rows:
        bucket = per_skill[r.skill_id][r.level.lower()]
        if len(bucket) < per_level:
            bucket.append({"course_id": r.course_id, "name": r.name, "relevance": r.relevance})
    out = [{**names[k], **v} for k, v in per_skill.items() if k in names]
    return page_of(out, lambda r: (r["skill_id"],), (str,), cursor, limit)


def glossary(uow, domain, limit, cursor) -> dict:
    where = "WHERE domain = :domain" if domain else ""
    rows = [{"domain": r.domain, "skill_id": r.id, "skill": r.name, "definition": r.definition,
             "sub_skills": list(r.sub_skills or [])}
            for r in uow.read(text(f"SELECT id, name, domain, definition, sub_skills FROM skills {where}"),
                              {"domain": domain}).all()]
    return page_of(rows, lambda r: (r["domain"], r["skill"]), (str, str), cursor, limit)


# ---------------------------------------------------------------- benchmark


def _group_filter(filters: dict) -> tuple[str, dict]:
    where, params = [], {}
    for field in ("region", "company_size"):
        if filters.get(field):
            where.append(f"o.{field} = :{field}")
            params[field] = filters[field]
    if filters.get("industry"):  # free text in identity: Finance and finance are one industry
        where.append("lower(o.industry) = lower(:industry)")
        params["industry"] = filters["industry"]
    return (" AND " + " AND ".join(where)) if where else "", params


def _rank(own: float | None, peers: list[float], minimum: int) -> dict:
    if own is None:
        return {"score": None, "peers": len(peers), "group_too_small": False, "percentile_rank": None,
                "quartile": None, "group_average": None, "status": "NO_SCORE"}
    if len(peers) < minimum:
        return {"score": round(own, 1), "peers": len(peers), "group_too_small": True, "percentile_rank": None,
                "quartile": None, "group_average": None, "status": "GROUP_TOO_SMALL"}
    rank = percentile_rank(own, peers)
    return {"score": round(own, 1), "peers": len(peers), "group_too_small": False, "percentile_rank": round(rank, 1),
            "quartile": quartile(rank).value, "group_average": round(sum(peers) / len(peers), 1), "status": "OK"}


def top_skills(averages: dict[str, tuple[float, int]], n: int) -> list[str]:
    """The skills with the most learners holding a score (ties by id)."""
    return [k for k, _ in sorted(averages.items(), key=lambda kv: (-kv[1][1], kv[0]))[:n]]


def _overall(own: dict, peers: dict[str, dict], top: list[str], minimum: int) -> dict:
    """The mean over the asker's top skills, for the asker and each peer with any of them."""
    own_values = [own[k][0] for k in top if k in own]
    peer_values = []
    for averages in peers.values():
        values = [averages[k][0] for k in top if k in averages]
        if values:
            peer_values.append(sum(values) / len(values))
    result = _rank(sum(own_values) / len(own_values) if own_values else None, peer_values, minimum)
    return {**result, "skills": top}


def _averages_by_org(rows) -> dict[str, dict[str, tuple[float, int]]]:
    out: dict = defaultdict(dict)
    for org_id, skill_id, average, learners in rows:
        out[org_id][skill_id] = (float(average), int(learners))
    return out


def _peer_averages(uow, org_id: str, skills: list[str], filters: dict) -> dict[str, dict[str, tuple[float, int]]]:
    """The reference group's averages in `skills` only, by organization (ids as text:
    converting thousands of uuids cost more than the rest of the view)."""
    where, params = _group_filter(filters)
    return _averages_by_org(uow.read(text(
        "SELECT st.org_id::text, st.skill_id, st.score_sum / st.learners, st.learners FROM skill_stats st "
        "JOIN orgs o ON o.org_id = st.org_id WHERE st.skill_id = ANY(:skills) AND st.learners > 0 "
        "AND st.org_id <> :org_id" + where), {"org_id": org_id, "skills": skills, **params}).all())


def benchmark(uow, org_id, filters: dict, settings: SkillsSettings, limit, cursor) -> dict:
    """The organization's average score per skill and overall as a percentile rank
    among the reference group's other organizations (aggregates only). Reads the
    asker's skill_stats rows, then the group's rows of the page's skills and of the
    top skills only: the cost follows the page, not organizations x skills."""
    where, params = _group_filter(filters)
    rows = uow.read(text(
        "SELECT st.skill_id, s.name, s.domain, st.score_sum / st.learners AS average, st.learners "
        "FROM skill_stats st JOIN skills s ON s.id = st.skill_id WHERE st.org_id = :org_id AND st.learners > 0"),
        {"org_id": org_id}).all()
    own = {r.skill_id: (float(r.average), int(r.learners)) for r in rows}
    minimum = settings.benchmark_min_group
    page = page_of([{"skill_id": r.skill_id, "skill": r.name, "domain": r.domain, "learners": r.learners}
                    for r in rows], lambda r: (r["skill_id"],), (str,), cursor, limit)
    top = top_skills(own, settings.benchmark_top_skills)
    peers = _peer_averages(uow, org_id, sorted({r["skill_id"] for r in page["items"]} | set(top)), filters)
    for item in page["items"]:
        skill_id = item["skill_id"]
        item.update(_rank(own[skill_id][0], [a[skill_id][0] for a in peers.values() if skill_id in a], minimum))
    group_size = uow.read(text("SELECT count(*) FROM orgs o WHERE o.org_id <> :org_id" + where),
                          {"org_id": org_id, **params}).scalar()
    return {"reference_group": {k: filters.get(k) for k in ("region", "company_size", "industry")},
            "organizations_in_group": group_size, "minimum_group_size": minimum,
            "overall": _overall(own, peers, top, minimum), **page}


def benchmark_over_time(uow, org_id, filters: dict, skill_id: str | None, settings: SkillsSettings,
                        limit, cursor) -> dict:
    """Monthly snapshots: the organization's average (one skill, or overall over its
    current top skills) and its percentile rank in the reference group, month by month."""
    where, params = _group_filter(filters)
    current = {r.skill_id: (float(r.score_sum / r.learners), r.learners) for r in uow.read(text(
        "SELECT skill_id, score_sum, learners FROM skill_stats WHERE org_id = :org_id AND learners > 0"),
        {"org_id": org_id}).all()}
    top = top_skills(current, settings.benchmark_top_skills)
    wanted = [skill_id] if skill_id else top  # only the rows the answer needs
    rows = uow.read(text(
        "SELECT b.month, b.org_id::text, b.skill_id, b.average, b.learners FROM benchmark_snapshots b "
        "JOIN orgs o ON o.org_id = b.org_id WHERE b.org_id <> :org_id AND b.skill_id = ANY(:skills)" + where +
        " UNION ALL SELECT month, org_id::text, skill_id, average, learners FROM benchmark_snapshots "
        "WHERE org_id = :org_id AND skill_id = ANY(:skills)"), {"org_id": org_id, "skills": wanted, **params}).all()
    months: dict = defaultdict(list)
    for month, row_org, row_skill, average, learners in rows:
        months[month].append((row_org, row_skill, average, learners))
    minimum = settings.benchmark_min_group
    items = []
    for month, month_rows in months.items():
        by_org = _averages_by_org(month_rows)
        own = by_org.pop(org_id, {})
        if skill_id:
            peers = [a[skill_id][0] for a in by_org.values() if skill_id in a]
            result = _rank(own[skill_id][0] if skill_id in own else None, peers, minimum)
        else:
            result = _overall(own, by_org, top, minimum)
            result.pop("skills")
        if result["score"] is not None:
            items.append({"month": month.isoformat(), **result})
    page = page_of(items, lambda r: (r["month"],), (str,), cursor, limit)
    return {"reference_group": {k: filters.get(k) for k in ("region", "company_size", "industry")},
            "skill_id": skill_id, "skills": None if skill_id else top, "minimum_group_size": minimum, **page}


def anonymized(uow: UnitOfWork, org_id: str) -> bool:
    return bool(uow.read(text("SELECT anonymize_leaderboard FROM orgs WHERE org_id = :o"), {"o": org_id}).scalar())

