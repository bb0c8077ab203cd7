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
from servicekit.events import handle_event
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
    @rpc(read_only=True)
    def distribution(self, org_id, query=None):
        q = load_input(ProgramFilterQuery(), query)
        return queries.distribution(self.db, require_uuid(org_id, "organization"), q["program_id"], q["limit"],
                                    q["cursor"])

    @rpc(read_only=True)
    def hours_to_mastery(self, org_id, query=None):
        q = load_input(ProgramFilterQuery(), query)
        return queries.hours_to_mastery(self.db, require_uuid(org_id, "organization"), q["program_id"], q["limit"],
                                        q["cursor"])

    @rpc(read_only=True)
    def mastery_over_time(self, org_id, query=None):
        q = load_input(MasteryQuery(), query)
        return queries.mastery_over_time(self.db, require_uuid(org_id, "organization"), q["program_id"], q["since"],
                                         q["interval"], q["limit"], q["cursor"])

    @rpc(read_only=True)
    def leaderboard(self, org_id, query=None):
        q = load_input(LeaderboardQuery(), query)
        org_id = require_uuid(org_id, "organization")
        return queries.leaderboard(self.db, org_id, q["program_id"], q["skill_id"], q["domain"],
                                   queries.anonymized(self.db, org_id), q["limit"], q["cursor"])

    @rpc(read_only=True)
    def assessments(self, org_id, query=None):
        q = load_input(ProgramFilterQuery(), query)
        return queries.assessments(self.db, require_uuid(org_id, "organization"), q["program_id"], q["limit"],
                                   q["cursor"])

    @rpc(read_only=True)
    def hours(self, org_id, query=None):
        q = load_input(ProgramFilterQuery(), query)
        return queries.hours(self.db, require_uuid(org_id, "organization"), q["program_id"], q["limit"], q["cursor"])

    @rpc(read_only=True)
    def relevant_courses(self, org_id, query=None):
        q = load_input(RelevantCoursesQuery(), query)
        return queries.relevant_courses(self.db, require_uuid(org_id, "organization"), q["program_id"],
                                        q["per_level"], q["limit"], q["cursor"])

    @rpc(read_only=True)
    def glossary(self, org_id, query=None):
        q = load_input(GlossaryQuery(), query)
        require_uuid(org_id, "organization")
        return queries.glossary(self.db, q["domain"], q["limit"], q["cursor"])

    @rpc(read_only=True)
    def benchmark(self, org_id, query=None):
        q = load_input(BenchmarkQuery(), query)
        return queries.benchmark(self.db, require_uuid(org_id, "organization"), q, self.settings, q["limit"],
                                 q["cursor"])

    @rpc(read_only=True)
    def benchmark_over_time(self, org_id, query=None):
        q = load_input(BenchmarkOverTimeQuery(), query)
        return queries.benchmark_over_time(self.db, require_uuid(org_id, "organization"), q, q["skill_id"],
                                           self.settings, q["limit"], q["cursor"])

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

    @handle_event(LEARNING_HOURS_UPDATED)
    def on_learning_hours_updated(self, event):
        handlers.on_learning_hours_updated(self.db, event)

    @handle_event(ORG_CREATED)
    def on_org_created(self, event):
        handlers.on_org_created(self.db, event)

    @handle_event(ORG_UPDATED)
    def on_org_updated(self, event):
        handlers.on_org_updated(self.db, event)

    @handle_event(PROFILE_UPDATED)
    def on_profile_updated(self, event):
        handlers.on_profile_updated(self.db, event)

    @handle_event(PROFILES_UPDATED)
    def on_profiles_updated(self, event):
        handlers.on_profiles_updated(self.db, event)

    @handle_event(MEMBER_JOINED)
    def on_member_joined(self, event):
        handlers.on_member_joined(self.db, event)

    @handle_event(MEMBER_REMOVED)
    def on_member_removed(self, event):
        handlers.on_member_removed(self.db, event)

    @handle_event(CURRICULUM_CHANGED)
    def on_curriculum_changed(self, event):
        handlers.on_curriculum_changed(self.db, event)

    @handle_event(PROGRAM_REMOVED)
    def on_program_removed(self, event):
        handlers.on_program_removed(self.db, event)
