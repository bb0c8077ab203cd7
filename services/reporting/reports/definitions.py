"""The reports: their exact header rows (domain.md "Reports") and the SQL
that makes each row as one finished CSV line (`cells`).

Every query reads reporting's own projections (services/reporting/models.py)
and is scoped by organization and, for program admins or `?program_id=`, by
a list of program ids (`:programs`, NULL for every program of the org). The
queries have no ORDER BY where the row count can reach millions (a sort
would hold them all in PostgreSQL's memory or on disk before the first byte)
except where an index gives the order for free."""
from dataclasses import dataclass

from services.reporting.reports.cells import (
    sql_cell,
    sql_hundredths,
    sql_integer,
    sql_number,
    sql_row,
    sql_safe,
    sql_text,
    sql_time,
    sql_yes_no,
)

USAGE, MEMBERSHIP, SPECIALIZATION = "usage", "membership", "specialization"
ATTEMPTS, GRADEBOOK = "assessment_attempts", "gradebook"
ORG_REPORTS = (USAGE, MEMBERSHIP, SPECIALIZATION)
PARTITIONED = ORG_REPORTS  # read in shares at once when large (export.stream)
COURSE_REPORTS = (ATTEMPTS, GRADEBOOK)

PROFILE_HEADERS = ["Manager Name", "Manager Email", "Job Title", "Job Type", "Business Unit", "Business Unit 2",
                   "Location City", "Location Country", "Location Region"]
PROFILE_COLUMNS = ["manager_name", "manager_email", "job_title", "job_type", "business_unit", "business_unit_2",
                   "location_city", "location_country", "location_region"]

USAGE_HEADERS = [
    "Name", "Email", "External Id", "Course", "Course ID", "Course Slug", "University", "Enrollment Time",
    "Class Start Time", "Last Course Activity Time", "Overall Progress", "Estimated Learning Hours", "Completed",
    "Removed From Program", "Program Slug", "Program Name", "Enrollment Source", "Completion Time", "Course Grade",
    "Contract", *PROFILE_HEADERS,
]
MEMBERSHIP_HEADERS = [
    "Name", "Email", "External Id", "Program Name", "Program Slug", "# Enrolled Courses", "# Completed Courses",
    "Member State", "Join Date", "Invitation Date", "Last Activity Time", "Contract(s)", *PROFILE_HEADERS,
]
SPECIALIZATION_HEADERS = [
    "Name", "Email", "External Id", "Specialization", "Specialization Slug", "University", "Enrollment Time",
    "Last Specialization Activity Time", "Completed", "Removed From Program", "Program Slug", "Program Name",
    "Enrollment Source", "Specialization Completion Time", "Contract", *PROFILE_HEADERS,
]
ATTEMPTS_HEADERS = ["Name", "Email", "External Id", "Course", "Course Slug", "Assessment", "Attempt", "Score",
                    "Max Score", "Passed", "Attempt Time"]
GRADEBOOK_LEADING = ["Name", "Email", "External Id"]
GRADEBOOK_TRAILING = ["Course Grade"]

FILENAMES = {USAGE: "usage.csv", MEMBERSHIP: "membership.csv", SPECIALIZATION: "specialization.csv",
             ATTEMPTS: "assessment_attempts.csv", GRADEBOOK: "gradebook.csv"}


text, time, yes_no, number, integer, hundredths = sql_text, sql_time, sql_yes_no, sql_number, sql_integer, \
    sql_hundredths
cell, safe = sql_cell, sql_safe


def select_rows(cell_exprs: list[str], rest: str) -> str:
    """SELECT line, cells FROM <rest>, the lateral join that makes them placed before WHERE."""
    select, lateral = sql_row(cell_exprs)
    body, where, tail = rest.partition("\nWHERE ")
    return f"SELECT {select}\n{body}\n{lateral}\n{where}{tail}"


# The name and address the organization sees: its profile's where set, else the account's, else the membership's.
NAME = "coalesce(nullif(pe.full_name, ''), a.full_name, m.full_name)"
EMAIL = "coalesce(pe.email, a.email, m.email)"
PERSON = [text(NAME), text(EMAIL), text("pe.external_id")]
PROFILE = [text(f"pe.{column}") for column in PROFILE_COLUMNS]
# An export may be read in shares at once (export.stream): a share holds the people whose id lies in its range
# of the UUID space (`:share_from`..`:share_to`, export.share_bounds; ids are random, so the shares are even).
# Every table joined on the person carries the same condition, so each share reads (and hashes) only its
# people's rows. A range, unlike a hash of the id, is something the planner can estimate from its statistics
# (it planned a nested loop over a million rows for a condition it took to keep 0.5 % of them). One share: every id.
PART = "({a}.user_id BETWEEN CAST(:share_from AS uuid) AND CAST(:share_to AS uuid))"
PEOPLE_JOINS = """
LEFT JOIN people pe ON pe.org_id = {alias}.org_id AND pe.user_id = {alias}.user_id AND """ + PART.format(a="pe") + """
LEFT JOIN accounts a ON a.user_id = {alias}.user_id AND """ + PART.format(a="a")
PROGRAM_SCOPE = "(CAST(:programs AS uuid[]) IS NULL OR {alias}.program_id = ANY(CAST(:programs AS uuid[])))"
REMOVED = "coalesce(m.state = 'DELETED_MEMBER', false)"
# The collection the course was found in (empty if found by search): its name as of its latest change.
ENROLLMENT_SOURCE = "col.name"
COLLECTION_JOIN = "LEFT JOIN collections col ON col.collection_id = e.collection_id"

# The Usage report, up to millions of rows (one per course enrollment), is made of finished lines: the cells
# that come from a person (name, email, external id, contract, profile), a course, a program or a collection
# (Enrollment Source) are neutralised and quoted once per membership, course, program and collection in CTEs
# (`cell`: 100,000 members, not 1,000,000 rows), and a row adds only its own times and figures, which never
# need quoting or neutralising (`safe`). No per-row check and no per-row array: PostgreSQL spends about a
# quarter of what `select_rows` costs it (docs/reporting.md "Where the text is made").
PERSON_HEAD = ["name", "email", "external_id"]  # the cells before the course's
PERSON_TAIL = ["contract", *PROFILE_COLUMNS]  # the last cells of a row


def joined_cells(alias: str, columns: list[str]) -> str:
    return " || ',' || ".join(cell(f"{alias}.{column}") for column in columns)


USAGE_PERSON = f"""
SELECT v.program_id, v.user_id, {joined_cells("v", PERSON_HEAD)} AS head,
       {safe(yes_no("v.removed"))} AS removed, {joined_cells("v", PERSON_TAIL)} AS tail
FROM (
  SELECT m.program_id, m.user_id, {NAME} AS name, {EMAIL} AS email, pe.external_id,
         m.state = 'DELETED_MEMBER' AS removed, k.name AS contract, {", ".join(f"pe.{c}" for c in PROFILE_COLUMNS)}
  FROM memberships m
  {PEOPLE_JOINS.format(alias="m")}
  LEFT JOIN contracts k ON k.contract_id = m.contract_id
  WHERE m.org_id = CAST(:org_id AS uuid) AND {PROGRAM_SCOPE.format(alias="m")} AND {PART.format(a="m")}
  OFFSET 0  -- each value computed once, not once per cell expression that uses it
) v"""
# An enrollment without a membership row (its member.joined not consumed yet): the person's cells from the
# profile or the account, looked up for that row only.
USAGE_NO_MEMBER = f"""(
  SELECT {{cells}}
  FROM (SELECT coalesce(nullif(pe.full_name, ''), a.full_name) AS name, coalesce(pe.email, a.email) AS email,
               pe.external_id, NULL::text AS contract, {", ".join(f"pe.{c}" for c in PROFILE_COLUMNS)}
        FROM (SELECT 1) one
        LEFT JOIN people pe ON pe.org_id = e.org_id AND pe.user_id = e.user_id
        LEFT JOIN accounts a ON a.user_id = e.user_id) v)"""
USAGE_COURSE = f"""
SELECT c.course_id, c.item_count, {joined_cells("c", ["name", "course_id", "slug", "partner"])} AS head,
       {safe(time("c.class_start_time"))} AS class_start
FROM courses c"""
USAGE_PROGRAM = f"""
SELECT p.program_id, {joined_cells("p", ["slug", "name"])} AS cells
FROM programs p
WHERE p.org_id = CAST(:org_id AS uuid) AND p.removed_at IS NULL"""
USAGE_SOURCE = f"""
SELECT col.collection_id, {cell(ENROLLMENT_SOURCE)} AS cell
FROM collections col
WHERE col.org_id = CAST(:org_id AS uuid)"""
# Overall Progress in hundredths of a percent, half up: (2 × 10000 × items + count) div (2 × count), at most
# 100.00; unknown (empty) when the course is not in the catalog or has no item count.
PROGRESS = ("CASE WHEN c.item_count > 0 THEN least(10000, (20000 * coalesce(lc.items_completed, 0)::bigint "
            "+ c.item_count) / (2 * c.item_count)) END")
# Estimated Learning Hours in hundredths of an hour, half up: (µs + 18,000,000) div 36,000,000
HOURS = "(coalesce(lc.hours_us, 0) + 18000000) / 36000000"
USAGE_CELLS = [
    f"coalesce(w.head, {USAGE_NO_MEMBER.format(cells=joined_cells('v', PERSON_HEAD))})",
    f"""coalesce(c.head, ',' || {cell("e.course_id")} || ',,')""",  # Course, Course ID, Course Slug, University
    safe(time("e.enrolled_at")), "coalesce(c.class_start, '')", safe(time("lc.last_activity_at")),
    safe(hundredths(PROGRESS)), hundredths(HOURS), yes_no("lc.completed_at IS NOT NULL"),
    "coalesce(w.removed, 'No')", "p.cells", "coalesce(src.cell, '')", safe(time("lc.completed_at")),
    safe(number("lc.grade_pct")),
    f"coalesce(w.tail, {USAGE_NO_MEMBER.format(cells=joined_cells('v', PERSON_TAIL))})",
]
USAGE_SQL = f"""
WITH w AS MATERIALIZED ({USAGE_PERSON}
), c AS MATERIALIZED ({USAGE_COURSE}
), p AS MATERIALIZED ({USAGE_PROGRAM}
), src AS MATERIALIZED ({USAGE_SOURCE}
)
SELECT {" || ',' || ".join(USAGE_CELLS)} AS line
FROM enrollments e
JOIN p ON p.program_id = e.program_id
LEFT JOIN w ON w.program_id = e.program_id AND w.user_id = e.user_id
LEFT JOIN c ON c.course_id = e.course_id
LEFT JOIN src ON src.collection_id = e.collection_id
LEFT JOIN learner_courses lc ON lc.org_id = e.org_id AND lc.user_id = e.user_id AND lc.course_id = e.course_id
                            AND {PART.format(a="lc")}
WHERE e.org_id = CAST(:org_id AS uuid) AND e.kind = 'COURSE' AND {PROGRAM_SCOPE.format(alias="e")}
  AND {PART.format(a="e")}
"""

MEMBERSHIP_SQL = f"""
WITH courses_of AS (
  SELECT e.program_id, e.user_id, count(*) AS enrolled, count(lc.completed_at) AS completed
  FROM enrollments e
  LEFT JOIN learner_courses lc ON lc.org_id = e.org_id AND lc.user_id = e.user_id AND lc.course_id = e.course_id
  WHERE e.org_id = CAST(:org_id AS uuid) AND e.kind = 'COURSE' AND {PROGRAM_SCOPE.format(alias="e")}
    AND {PART.format(a="e")}
  GROUP BY e.program_id, e.user_id
)
""" + select_rows([
    *PERSON, text("p.name"), text("p.slug"),
    integer("coalesce(co.enrolled, 0)"), integer("coalesce(co.completed, 0)"),
    text("m.state"), time("m.joined_at"), time("m.invited_at"), time("l.last_activity_at"),
    text("k.name"), *PROFILE,
], f"""FROM memberships m
JOIN programs p ON p.program_id = m.program_id
{PEOPLE_JOINS.format(alias="m")}
LEFT JOIN courses_of co ON co.program_id = m.program_id AND co.user_id = m.user_id
LEFT JOIN learners l ON l.org_id = m.org_id AND l.user_id = m.user_id AND {PART.format(a="l")}
LEFT JOIN contracts k ON k.contract_id = m.contract_id
WHERE m.org_id = CAST(:org_id AS uuid) AND p.removed_at IS NULL AND {PROGRAM_SCOPE.format(alias="m")}
  AND {PART.format(a="m")}
""")

SPECIALIZATION_SQL = select_rows([
    *PERSON, text("s.name"), text("e.specialization_id"), text("s.partner"),
    time("e.enrolled_at"), time("sp.last_activity_at"),
    yes_no("sp.done"), yes_no(REMOVED), text("p.slug"), text("p.name"), text(ENROLLMENT_SOURCE),
    time("CASE WHEN sp.done THEN sp.completed_at END"), text("k.name"), *PROFILE,
], f"""FROM enrollments e
JOIN programs p ON p.program_id = e.program_id
LEFT JOIN memberships m ON m.program_id = e.program_id AND m.user_id = e.user_id
{PEOPLE_JOINS.format(alias="e")}
LEFT JOIN specializations s ON s.specialization_id = e.specialization_id
LEFT JOIN LATERAL (
  SELECT max(lc.last_activity_at) AS last_activity_at, max(lc.completed_at) AS completed_at,
         coalesce(cardinality(s.course_ids) > 0
                  AND count(lc.completed_at) >= cardinality(s.course_ids), false) AS done
  FROM learner_courses lc
  WHERE lc.org_id = e.org_id AND lc.user_id = e.user_id AND lc.course_id = ANY(s.course_ids)
) sp ON true
LEFT JOIN contracts k ON k.contract_id = m.contract_id
{COLLECTION_JOIN}
WHERE e.org_id = CAST(:org_id AS uuid) AND e.kind = 'SPECIALIZATION' AND p.removed_at IS NULL
  AND {PROGRAM_SCOPE.format(alias="e")} AND {PART.format(a="e")}
""")

# The learners of a program's course gradebook: everyone who has joined the program (current or former members).
GRADEBOOK_PEOPLE = """
SELECT m.org_id, m.user_id, m.program_id, m.full_name, m.email, m.state
FROM memberships m
WHERE m.program_id = CAST(:program_id AS uuid) AND m.org_id = CAST(:org_id AS uuid) AND m.joined_at IS NOT NULL
"""

ATTEMPTS_SQL = f"WITH m AS ({GRADEBOOK_PEOPLE})\n" + select_rows([
    *PERSON, text("c.name"), text("c.slug"), text("coalesce(n.name, st.item_id)"), integer("st.attempt"),
    number("st.score"), number("st.max_score"), yes_no("st.passed"), time("st.ts"),
], f"""FROM m
{PEOPLE_JOINS.format(alias="m")}
JOIN statements st ON st.org_id = m.org_id AND st.user_id = m.user_id AND st.course_id = :course_id
                   AND st.verb = 'graded'
LEFT JOIN courses c ON c.course_id = st.course_id
LEFT JOIN item_names n ON n.org_id = st.org_id AND n.course_id = st.course_id AND n.item_id = st.item_id
WHERE true
ORDER BY x.line""")

# The graded items of the course attempted by anyone of the program, as gradebook columns (in item id
# order): the item's id and its name where the learning platform gave one (gradebook_headers).
GRADEBOOK_ITEMS_SQL = f"""
WITH m AS ({GRADEBOOK_PEOPLE})
SELECT i.item_id, n.name
FROM (SELECT DISTINCT li.org_id, li.item_id
      FROM m JOIN learner_items li ON li.org_id = m.org_id AND li.user_id = m.user_id AND li.course_id = :course_id
      WHERE li.best_pct IS NOT NULL) i
LEFT JOIN item_names n ON n.org_id = i.org_id AND n.course_id = :course_id AND n.item_id = i.item_id
ORDER BY i.item_id
"""


def gradebook_headers(items: list[tuple[str, str | None]]) -> list[str]:
    """A column per graded item: its name, else its id; a name two items share is followed by the item id."""
    names = [name or item_id for item_id, name in items]
    return [f"{name} ({item_id})" if names.count(name) > 1 else name
            for name, (item_id, _) in zip(names, items, strict=True)]


def gradebook_sql(item_count: int) -> str:
    """One row per learner of the program with activity in the course: the
    best score % of each graded item (`:item_0`.. in header order), then the course grade."""
    items = [number(f"g.best[{i + 1}]") for i in range(item_count)]
    best = ", ".join(f"max(li.best_pct) FILTER (WHERE li.item_id = :item_{i})" for i in range(item_count))
    return f"WITH m AS ({GRADEBOOK_PEOPLE})\n" + select_rows([*PERSON, *items, number("lc.grade_pct")], f"""FROM m
{PEOPLE_JOINS.format(alias="m")}
JOIN learner_courses lc ON lc.org_id = m.org_id AND lc.user_id = m.user_id AND lc.course_id = :course_id
CROSS JOIN LATERAL (
  SELECT ARRAY[{best or "NULL"}]::float8[] AS best
  FROM learner_items li WHERE li.org_id = m.org_id AND li.user_id = m.user_id AND li.course_id = :course_id
) g
WHERE true
ORDER BY x.line""")


@dataclass(frozen=True)
class Report:
    name: str
    headers: list
    sql: str
    finished: bool = False  # the SQL answers finished lines only (one column), else (line, cells): `cells.finish`


REPORTS = {
    USAGE: Report(USAGE, USAGE_HEADERS, USAGE_SQL, finished=True),
    MEMBERSHIP: Report(MEMBERSHIP, MEMBERSHIP_HEADERS, MEMBERSHIP_SQL),
    SPECIALIZATION: Report(SPECIALIZATION, SPECIALIZATION_HEADERS, SPECIALIZATION_SQL),
    ATTEMPTS: Report(ATTEMPTS, ATTEMPTS_HEADERS, ATTEMPTS_SQL),
}
