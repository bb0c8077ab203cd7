"""Skill analytics: the ten views of an organization (docs/api.md "Skills",
docs/skills.md). Org admins only: a program admin of the organization and a
learner of it get 403, anyone else the 404 of an organization they cannot see.
The views' query is validated here and again by the service; a `program_id`
filter must name one of the organization's live programs (else 404)."""
from contracts.errors import AppError, ErrorCode
from contracts.skills import (
    AssessmentsItem,
    BenchmarkAnswer,
    BenchmarkOverTimeAnswer,
    BenchmarkOverTimeQuery,
    BenchmarkQuery,
    DistributionItem,
    GlossaryItem,
    GlossaryQuery,
    HoursItem,
    HoursToMasteryItem,
    LeaderboardItem,
    LeaderboardQuery,
    MasteryItem,
    MasteryQuery,
    ProgramFilterQuery,
    RelevantCoursesItem,
    RelevantCoursesQuery,
)
from gateway.http import route
from gateway.routes import Routes
from gateway.schemas import page_of

TAGS = ("skills",)


class _Names:
    """Stands in for the skills proxy to read an RPC's name off its accessor."""

    def __getattr__(self, name: str) -> str:
        return name


def _view(rpc_of, query, response, summary: str):
    """The route of one view, answered by the skills RPC `rpc_of(skills)`: `lambda skills:
    skills.hours_to_mastery` is GET /v1/orgs/{org_id}/skills/hours-to-mastery. (An accessor, not
    a name: the broker-user check reads the RPCs the gateway calls from the code.)"""
    name = rpc_of(_Names())

    @route("GET", "/v1/orgs/{org_id}/skills/" + name.replace("_", "-"), query=query, response=response, tags=TAGS,
           summary=summary)
    def handler(self, call, org_id):
        return rpc_of(self.skills)(org_id, self._query(call, org_id, query))

    handler.__name__ = handler.__qualname__ = f"skills_{name}"
    return handler


class SkillsRoutes(Routes):
    def _org_admin(self, call, org_id: str) -> None:
        principal = call.principal
        if principal.is_org_admin(org_id):
            return
        if principal.is_admin(org_id):
            raise AppError(ErrorCode.FORBIDDEN, "skill analytics are for organization admins")
        if principal.user_id and not principal.is_machine and \
                self.programs.person_in_org(org_id, principal.user_id):
            raise AppError(ErrorCode.FORBIDDEN, "skill analytics are for organization admins")
        raise AppError(ErrorCode.NOT_FOUND, "organization not found")

    def _query(self, call, org_id, schema) -> dict:
        """The caller may see the organization's skill analytics: its query, as the
        service takes it. A program filter must name a live program of this
        organization (another organization's program is one it does not have: 404)."""
        self._org_admin(call, org_id)
        query = schema().dump(call.query)
        if query.get("program_id") and self.programs.missing_programs(org_id, [query["program_id"]]):
            raise AppError(ErrorCode.NOT_FOUND, "program not found")
        return query

    skills_distribution = _view(
        lambda skills: skills.distribution, ProgramFilterQuery, page_of(DistributionItem),
        "Learners per level (Beginner, Intermediate, Advanced) for the top skills")
    skills_hours_to_mastery = _view(
        lambda skills: skills.hours_to_mastery, ProgramFilterQuery, page_of(HoursToMasteryItem),
        "Median learning hours of the learners at each level, per skill")
    skills_mastery_over_time = _view(
        lambda skills: skills.mastery_over_time, MasteryQuery, page_of(MasteryItem),
        "Learners who have reached Intermediate and Advanced, by date, per skill")
    skills_leaderboard = _view(
        lambda skills: skills.leaderboard, LeaderboardQuery, page_of(LeaderboardItem),
        "Learners at Intermediate or Advanced per skill (contact info hidden if the org anonymizes)")
    skills_assessments = _view(
        lambda skills: skills.assessments, ProgramFilterQuery, page_of(AssessmentsItem),
        "Graded assessments completed per skill: total and average per learner")
    skills_hours = _view(lambda skills: skills.hours, ProgramFilterQuery, page_of(HoursItem),
                         "Average hours spent learning each skill")
    skills_relevant_courses = _view(
        lambda skills: skills.relevant_courses, RelevantCoursesQuery, page_of(RelevantCoursesItem),
        "The most relevant courses per skill and level, among those the organization's programs offer")
    skills_glossary = _view(lambda skills: skills.glossary, GlossaryQuery, page_of(GlossaryItem),
                            "Domains, skills, their definitions and example sub-skills")
    skills_benchmark = _view(
        lambda skills: skills.benchmark, BenchmarkQuery, BenchmarkAnswer,
        "Percentile rank and quartile against a reference group (region, size, industry)")
    skills_benchmark_over_time = _view(
        lambda skills: skills.benchmark_over_time, BenchmarkOverTimeQuery, BenchmarkOverTimeAnswer,
        "Monthly average skill score and rank against the reference group")
