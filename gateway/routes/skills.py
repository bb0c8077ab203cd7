"""Skill analytics: the ten views of an organization (docs/api.md "Skills",
docs/skills.md). Org admins only: a program admin of the organization and a
learner of it get 403, anyone else the 404 of an organization they cannot see.
The views' query is validated here and again by the service."""
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
        """The caller may see the organization's skill analytics: its query, as the service takes it."""
        self._org_admin(call, org_id)
        return schema().dump(call.query)

    @route("GET", "/v1/orgs/{org_id}/skills/distribution", query=ProgramFilterQuery,
           response=page_of(DistributionItem), tags=TAGS,
           summary="Learners per level (Beginner, Intermediate, Advanced) for the top skills")
    def skills_distribution(self, call, org_id):
        return self.skills.distribution(org_id, self._query(call, org_id, ProgramFilterQuery))

    @route("GET", "/v1/orgs/{org_id}/skills/hours-to-mastery", query=ProgramFilterQuery,
           response=page_of(HoursToMasteryItem), tags=TAGS,
           summary="Median learning hours of the learners at each level, per skill")
    def skills_hours_to_mastery(self, call, org_id):
        return self.skills.hours_to_mastery(org_id, self._query(call, org_id, ProgramFilterQuery))

    @route("GET", "/v1/orgs/{org_id}/skills/mastery-over-time", query=MasteryQuery,
           response=page_of(MasteryItem), tags=TAGS,
           summary="Learners who have reached Intermediate and Advanced, by date, per skill")
    def skills_mastery_over_time(self, call, org_id):
        return self.skills.mastery_over_time(org_id, self._query(call, org_id, MasteryQuery))

    @route("GET", "/v1/orgs/{org_id}/skills/leaderboard", query=LeaderboardQuery,
           response=page_of(LeaderboardItem), tags=TAGS,
           summary="Learners at Intermediate or Advanced per skill (contact info hidden if the org anonymizes)")
    def skills_leaderboard(self, call, org_id):
        return self.skills.leaderboard(org_id, self._query(call, org_id, LeaderboardQuery))

    @route("GET", "/v1/orgs/{org_id}/skills/assessments", query=ProgramFilterQuery,
           response=page_of(AssessmentsItem), tags=TAGS,
           summary="Graded assessments completed per skill: total and average per learner")
    def skills_assessments(self, call, org_id):
        return self.skills.assessments(org_id, self._query(call, org_id, ProgramFilterQuery))

    @route("GET", "/v1/orgs/{org_id}/skills/hours", query=ProgramFilterQuery, response=page_of(HoursItem),
           tags=TAGS, summary="Average hours spent learning each skill")
    def skills_hours(self, call, org_id):
        return self.skills.hours(org_id, self._query(call, org_id, ProgramFilterQuery))

    @route("GET", "/v1/orgs/{org_id}/skills/relevant-courses", query=RelevantCoursesQuery,
           response=page_of(RelevantCoursesItem), tags=TAGS,
           summary="The most relevant courses per skill and level, among those the organization's programs offer")
    def skills_relevant_courses(self, call, org_id):
        return self.skills.relevant_courses(org_id, self._query(call, org_id, RelevantCoursesQuery))

    @route("GET", "/v1/orgs/{org_id}/skills/glossary", query=GlossaryQuery, response=page_of(GlossaryItem),
           tags=TAGS, summary="Domains, skills, their definitions and example sub-skills")
    def skills_glossary(self, call, org_id):
        return self.skills.glossary(org_id, self._query(call, org_id, GlossaryQuery))

    @route("GET", "/v1/orgs/{org_id}/skills/benchmark", query=BenchmarkQuery, response=BenchmarkAnswer,
           tags=TAGS, summary="Percentile rank and quartile against a reference group (region, size, industry)")
    def skills_benchmark(self, call, org_id):
        return self.skills.benchmark(org_id, self._query(call, org_id, BenchmarkQuery))

    @route("GET", "/v1/orgs/{org_id}/skills/benchmark-over-time", query=BenchmarkOverTimeQuery,
           response=BenchmarkOverTimeAnswer, tags=TAGS,
           summary="Monthly average skill score and rank against the reference group")
    def skills_benchmark_over_time(self, call, org_id):
        return self.skills.benchmark_over_time(org_id, self._query(call, org_id, BenchmarkOverTimeQuery))
