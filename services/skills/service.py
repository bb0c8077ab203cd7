"""skills' nameko entrypoints: load input, call one command, query or handler,
dump output. Every view takes the org_id first and filters by it; the gateway
has checked the caller is an org admin of that organization."""
import logging

from contracts.identity import ORG_CREATED, ORG_UPDATED, PROFILE_UPDATED, PROFILES_UPDATED
from contracts.programs import CURRICULUM_CHANGED, MEMBER_JOINED, MEMBER_REMOVED, PROGRAM_REMOVED
from contracts.reporting import ATTEMPTS_GRADED, LEARNING_HOURS_UPDATED
from contracts.skills import (
    BenchmarkOverTimeQuery,
    BenchmarkQuery,
    GlossaryQuery,
    LeaderboardQuery,
    MasteryQuery,
    ProgramFilterQuery,
    RelevantCoursesQuery,
)
from servicekit.entrypoints import load_input, rpc, settings_timer
from servicekit.events import handle_event, handled_by
from servicekit.models import require_uuid
from servicekit.service import ServiceBase, ServiceSettings
from services.skills import handlers, queries
from services.skills.commands import recompute
from services.skills.settings import SkillsSettings

log = logging.getLogger(__name__)



class SkillsService(ServiceBase):
    name = "skills"
    settings = ServiceSettings(SkillsSettings)

    # ---- the ten views (org admins; read-only pool)
    def _view(self, org_id, query, schema) -> tuple[str, dict]:
        """The organization's id and the loaded query; a program filter naming
        another organization's program is refused here too (tenancy twice)."""
        q = load_input(schema(), query)
        org_id = require_uuid(org_id, "organization")
        if q.get("program_id"):
            queries.require_program(self.db, org_id, q["program_id"])
        return org_id, q

    def _paged(self, answer, org_id, query, schema, *fields):
        """`answer(db, org_id, *the query's fields, limit, cursor)`."""
        org_id, q = self._view(org_id, query, schema)
        return answer(self.db, org_id, *(q[f] for f in fields), q["limit"], q["cursor"])

    @rpc(read_only=True)
    def distribution(self, org_id, query=None):
        return self._paged(queries.distribution, org_id, query, ProgramFilterQuery, "program_id")

    @rpc(read_only=True)
    def hours_to_mastery(self, org_id, query=None):
        return self._paged(queries.hours_to_mastery, org_id, query, ProgramFilterQuery, "program_id")

    @rpc(read_only=True)
    def mastery_over_time(self, org_id, query=None):
        return self._paged(queries.mastery_over_time, org_id, query, MasteryQuery, "program_id", "since", "interval")

    @rpc(read_only=True)
    def leaderboard(self, org_id, query=None):
        org_id, q = self._view(org_id, query, LeaderboardQuery)
        return queries.leaderboard(self.db, org_id, q["program_id"], q["skill_id"], q["domain"],
                                   queries.anonymized(self.db, org_id), q["limit"], q["cursor"])

    @rpc(read_only=True)
    def assessments(self, org_id, query=None):
        return self._paged(queries.assessments, org_id, query, ProgramFilterQuery, "program_id")

    @rpc(read_only=True)
    def hours(self, org_id, query=None):
        return self._paged(queries.hours, org_id, query, ProgramFilterQuery, "program_id")

    @rpc(read_only=True)
    def relevant_courses(self, org_id, query=None):
        return self._paged(queries.relevant_courses, org_id, query, RelevantCoursesQuery, "program_id", "per_level")

    @rpc(read_only=True)
    def glossary(self, org_id, query=None):
        _, q = self._view(org_id, query, GlossaryQuery)
        return queries.glossary(self.db, q["domain"], q["limit"], q["cursor"])

    @rpc(read_only=True)
    def benchmark(self, org_id, query=None):
        org_id, q = self._view(org_id, query, BenchmarkQuery)
        return queries.benchmark(self.db, org_id, q, self.settings, q["limit"], q["cursor"])

    @rpc(read_only=True)
    def benchmark_over_time(self, org_id, query=None):
        org_id, q = self._view(org_id, query, BenchmarkOverTimeQuery)
        return queries.benchmark_over_time(self.db, org_id, q, q["skill_id"], self.settings, q["limit"], q["cursor"])

    # ---- periodic work (every replica runs the timers; the database decides who works)
    @settings_timer(SkillsSettings, lambda s: s.calibration_check_seconds)
    def calibrate_when_due(self):
        """A new difficulty snapshot (and a full recompute) once SKILLS_CALIBRATION_INTERVAL_HOURS have passed."""
        done = recompute.calibrate(self.db, self.settings)
        if done:
            log.info("calibrated %d assessments, recomputed %d learner-skills in %.1f s", done["assessments"],
                     done["learner_skills"], done["seconds"]["total"])

    @settings_timer(SkillsSettings, lambda s: s.snapshot_interval_seconds)
    def refresh_snapshot(self):
        """The current month's benchmark snapshot (past months stay as their last refresh left them)."""
        recompute.snapshot(self.db)

    # ---- events from other services
    @handle_event(ATTEMPTS_GRADED)
    def on_attempts_graded(self, event):
        handlers.on_attempts_graded(self.db, event, self.settings)

    on_learning_hours_updated = handled_by(LEARNING_HOURS_UPDATED, handlers.on_learning_hours_updated)
    on_org_created = handled_by(ORG_CREATED, handlers.on_org_created)
    on_org_updated = handled_by(ORG_UPDATED, handlers.on_org_updated)
    on_profile_updated = handled_by(PROFILE_UPDATED, handlers.on_profile_updated)
    on_profiles_updated = handled_by(PROFILES_UPDATED, handlers.on_profiles_updated)
    on_member_joined = handled_by(MEMBER_JOINED, handlers.on_member_joined)
    on_member_removed = handled_by(MEMBER_REMOVED, handlers.on_member_removed)
    on_curriculum_changed = handled_by(CURRICULUM_CHANGED, handlers.on_curriculum_changed)
    on_program_removed = handled_by(PROGRAM_REMOVED, handlers.on_program_removed)
