"""Analytics: the ten skills views of the organization (org admins), each as a table with a bar per
number (<meter> elements with their value written next to them: readable without colour, and the
table is the chart's text alternative), from `/v1/orgs/{org_id}/skills/...`."""

from flask import Blueprint, abort, render_template, request

from console.gateway import ApiError
from console.pages.common import message_of
from console.pages.settings import COMPANY_SIZES, REGIONS
from console.web import api, org_id, require_org_admin

pages = Blueprint("analytics", __name__, url_prefix="/admin/analytics")
VIEWS = {
    "distribution": ("Skill distribution", "Learners per skill at each level"),
    "hours-to-mastery": ("Hours to mastery", "Median learning hours to reach each level"),
    "mastery-over-time": ("Mastery over time", "Learners at intermediate and advanced level, over time"),
    "leaderboard": ("Leaderboard", "Learners with the highest skill scores"),
    "assessments": ("Assessments", "Graded assessments per skill"),
    "hours": ("Learning hours", "Learning hours per skill"),
    "relevant-courses": ("Relevant courses", "Courses that teach each skill, by level"),
    "glossary": ("Glossary", "What each skill means"),
    "benchmark": ("Benchmark", "Your scores against organizations like yours, with quartiles"),
    "benchmark-over-time": ("Benchmark over time", "Your average against the reference group, by month"),
}
PROGRAM_VIEWS = ("distribution", "hours-to-mastery", "mastery-over-time", "leaderboard", "assessments", "hours",
                 "relevant-courses")
FILTERS = {  # query parameters a view takes (beyond the page): contracts/skills.py
    **{view: ("program_id",) for view in PROGRAM_VIEWS},
    "benchmark": ("region", "company_size", "industry"),
    "benchmark-over-time": ("region", "company_size", "industry"),
    "mastery-over-time": ("program_id", "interval"),
}


def flatten(row: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + " "))
        elif isinstance(value, list):
            out[name] = ", ".join(v.get("name", str(v)) if isinstance(v, dict) else str(v) for v in value)
        else:
            out[name] = value
    return out


def table_of(answer) -> tuple[list[str], list[dict], dict, dict]:
    """(columns, rows, the largest value of each numeric column, the answer's other facts)."""
    items = answer.get("items") if isinstance(answer, dict) else answer
    if items is None and isinstance(answer, dict):
        items = answer.get("series", [])
    rows = [flatten(item) for item in (items or []) if isinstance(item, dict)]
    columns = []
    for row in rows:
        columns += [c for c in row if c not in columns and not c.endswith("_id") and c != "user_id"]
    numbers = {c: max(abs(r[c]) for r in rows if isinstance(r.get(c), int | float) and not isinstance(r[c], bool))
               for c in columns if any(isinstance(r.get(c), int | float) and not isinstance(r.get(c), bool)
                                       for r in rows)}
    facts = flatten({k: v for k, v in answer.items() if k not in ("items", "series", "next_cursor")}) \
        if isinstance(answer, dict) else {}
    return columns, rows, numbers, facts


@pages.route("/")
@pages.route("/<view>")
@require_org_admin
def home(view="distribution"):
    if view not in VIEWS:
        abort(404)
    params = {key: request.args[key] for key in FILTERS.get(view, ()) if request.args.get(key)}
    query = {**params, **({"cursor": request.args["cursor"]} if request.args.get("cursor") else {})}
    answer, error = None, None
    try:
        answer = api("GET", f"/v1/orgs/{org_id()}/skills/{view}", params=query)
    except ApiError as exc:
        if exc.status not in (400, 404, 422):
            raise
        error = message_of(exc)
    columns, rows, numbers, facts = table_of(answer) if answer is not None else ([], [], {}, {})
    programs = api("GET", f"/v1/orgs/{org_id()}/programs", params={"limit": 200})["items"] \
        if "program_id" in FILTERS.get(view, ()) else []
    return render_template("analytics/view.html", views=VIEWS, view=view, columns=columns, rows=rows,
                           numbers=numbers, facts=facts, answer=answer, error=error, filters=FILTERS.get(view, ()),
                           params=params, programs=programs, regions=REGIONS, sizes=COMPANY_SIZES)
