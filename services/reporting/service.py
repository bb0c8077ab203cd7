"""reporting's nameko entrypoints: load input, call one command, query or
handler, dump output.

Ingestion RPCs take the organization of the caller's API token (the gateway
passes it); reads take the organization and the caller's program scope
(None: every program of the organization). Any number of replicas consume the
same queues (competing consumers); every write is an upsert or is ordered by
row locks in the database (see commands/activity.py)."""
import logging
from datetime import datetime

from contracts.envelope import jsonable
from contracts.errors import AppError, invalid
from contracts.identity import (
    ADMIN_GRANTED,
    ADMIN_REVOKED,
    ORG_CREATED,
    ORG_UPDATED,
    PROFILE_UPDATED,
    PROFILES_UPDATED,
    USER_REGISTERED,
    USERS_REGISTERED,
)
from contracts.invitations import (
    INVITATION_ACCEPTED,
    INVITATION_CREATED,
    INVITATION_EXPIRED,
    INVITATION_RESENT,
    INVITATION_REVOKED,
    INVITATIONS_CREATED,
    InvitationState,
)
from contracts.programs import (
    COLLECTION_CHANGED,
    CONTRACT_CREATED,
    CONTRACT_UPDATED,
    CURRICULUM_CHANGED,
    ENROLLMENT_CREATED,
    ENROLLMENT_DOWNGRADED,
    MEMBER_JOINED,
    MEMBER_REMOVED,
    PROGRAM_CREATED,
    PROGRAM_REMOVED,
    PROGRAM_UPDATED,
)
from servicekit.entrypoints import rpc, settings_timer
from servicekit.events import handle_event, handled_by
from servicekit.models import parse_uuid, require_uuid
from servicekit.rpc import ServiceRpc
from servicekit.service import ServiceBase, ServiceSettings
from services.reporting import handlers, queries
from services.reporting.commands import catalog, ingestion
from services.reporting.reports.entrypoints import ReportsEntrypoints
from services.reporting.settings import ReportingSettings

log = logging.getLogger(__name__)


def _program_scope(program_ids) -> list[str] | None:
    if program_ids is None:
        return None
    if not isinstance(program_ids, list | tuple):
        raise invalid({"program_ids": ["a list of program ids, or null"]})
    return [require_uuid(p, "program") for p in program_ids]


def _audience_page(after, limit) -> tuple[str | None, int | None]:
    if after is not None:
        after = parse_uuid(after)
        if after is None:
            raise invalid({"after": ["a user id (the last of the previous page)"]})
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or not 1 <= limit <= queries.AUDIENCE_PAGE):
        raise invalid({"limit": [f"an integer from 1 to {queries.AUDIENCE_PAGE}"]})
    return after, limit


class ReportingService(ReportsEntrypoints, ServiceBase):
    name = "reporting"
    programs = ServiceRpc("programs")
    settings = ServiceSettings(ReportingSettings)

    def _fetch_courses(self, course_ids):
        return self.programs.get_courses(list(course_ids))

    def _find_courses(self, refs):
        return self.programs.find_courses(list(refs))

    def _fetch_specializations(self, specialization_ids):
        return self.programs.get_specializations(list(specialization_ids))

    # ---- activity in
    @rpc
    def ingest_activity(self, org_id, statements):
        """Native statements of the organization: {accepted, duplicates, rejected: [{index, code, message}]}."""
        return ingestion.ingest_native(self.db, require_uuid(org_id, "organization"), statements,
                                       self._fetch_courses, self.settings.max_future)

    @rpc
    def ingest_xapi(self, org_id, body):
        """xAPI statements (one or a list), all or nothing: their ids."""
        return ingestion.ingest_xapi(self.db, require_uuid(org_id, "organization"), body, self._fetch_courses,
                                     self.settings.max_future, self._find_courses)

    # ---- admin home
    @rpc(read_only=True)
    def summary(self, org_id, program_ids=None):
        return jsonable(queries.summary(self.db, require_uuid(org_id, "organization"), _program_scope(program_ids)))

    @rpc(read_only=True)
    def funnel(self, org_id, program_ids=None):
        return jsonable(queries.funnel(self.db, require_uuid(org_id, "organization"), _program_scope(program_ids)))

    @rpc(read_only=True)
    def learner(self, org_id, user_id):
        return jsonable(queries.learner(self.db, require_uuid(org_id, "organization"),
                                        require_uuid(user_id, "person")))

    # ---- messaging's activity audiences: a page of user ids at a time (limit), or all of them (no limit)
    @rpc(read_only=True)
    def active_learners(self, org_id, since, after=None, limit=None):
        try:
            since = datetime.fromisoformat(since) if isinstance(since, str) else None
        except ValueError:
            since = None
        if since is None or since.tzinfo is None:
            raise invalid({"since": ["an ISO-8601 time with a time zone"]})
        return queries.active_learners(self.db, require_uuid(org_id, "organization"), since,
                                       *_audience_page(after, limit))

    @rpc(read_only=True)
    def course_completers(self, org_id, course_ids, after=None, limit=None):
        if not isinstance(course_ids, list | tuple) or not all(isinstance(c, str) for c in course_ids):
            raise invalid({"course_ids": ["a list of course ids"]})
        return queries.course_completers(self.db, require_uuid(org_id, "organization"), list(course_ids),
                                         *_audience_page(after, limit))

    # ---- catalog
    @settings_timer(ReportingSettings, lambda s: s.catalog_refresh_seconds)
    def refresh_catalog(self):
        try:
            catalog.refresh_catalog(self.db, self._fetch_courses, self._fetch_specializations)
            catalog.backfill_collections(self.db, self.programs.collection_names)
        except AppError as exc:  # programs late or down: the next tick tries again
            log.warning("catalog refresh skipped: %s", exc.message)

    # ---- identity events
    on_org_created = handled_by(ORG_CREATED, handlers.on_org_created)
    on_org_updated = handled_by(ORG_UPDATED, handlers.on_org_updated)

    @handle_event(USER_REGISTERED)
    def on_user_registered(self, event):
        handlers.on_users_registered(self.db, [event.payload])

    @handle_event(USERS_REGISTERED)
    def on_users_registered(self, event):
        handlers.on_users_registered(self.db, event.payload["users"])

    @handle_event(PROFILE_UPDATED)
    def on_profile_updated(self, event):
        handlers.on_profiles_updated(self.db, event.payload["org_id"], [event.payload])

    @handle_event(PROFILES_UPDATED)
    def on_profiles_updated(self, event):
        handlers.on_profiles_updated(self.db, event.payload["org_id"], event.payload["people"])

    on_admin_granted = handled_by(ADMIN_GRANTED, handlers.on_admin_granted)
    on_admin_revoked = handled_by(ADMIN_REVOKED, handlers.on_admin_revoked)

    # ---- programs events
    on_program_created = handled_by(PROGRAM_CREATED, handlers.on_program_saved)
    on_program_updated = handled_by(PROGRAM_UPDATED, handlers.on_program_saved)
    on_program_removed = handled_by(PROGRAM_REMOVED, handlers.on_program_removed)
    on_contract_created = handled_by(CONTRACT_CREATED, handlers.on_contract_saved)
    on_contract_updated = handled_by(CONTRACT_UPDATED, handlers.on_contract_saved)
    on_member_joined = handled_by(MEMBER_JOINED, handlers.on_member_joined)
    on_member_removed = handled_by(MEMBER_REMOVED, handlers.on_member_removed)

    @handle_event(ENROLLMENT_CREATED)
    def on_enrollment_created(self, event):
        # the catalog first: catalog rows before the learner's row (home.sync_coverage), the order ingestion
        # takes them in too, so the two never wait on each other
        catalog.ensure_catalog(self.db, [event.payload.get("course_id")] if event.payload.get("course_id") else [],
                               [event.payload["specialization_id"]] if event.payload.get("specialization_id") else [],
                               self._fetch_courses, self._fetch_specializations)
        handlers.on_enrollment_created(self.db, event)

    on_enrollment_downgraded = handled_by(ENROLLMENT_DOWNGRADED, handlers.on_enrollment_downgraded)
    on_collection_changed = handled_by(COLLECTION_CHANGED, handlers.on_collection_changed)

    @handle_event(CURRICULUM_CHANGED)
    def on_curriculum_changed(self, event):
        catalog.ensure_catalog(self.db, event.payload["course_ids"], event.payload["specialization_ids"],
                               self._fetch_courses, self._fetch_specializations)

    # ---- invitations events
    @handle_event(INVITATION_CREATED)
    def on_invitation_created(self, event):
        handlers.on_invitations_created(self.db, event, [event.payload])

    @handle_event(INVITATIONS_CREATED)
    def on_invitations_created(self, event):
        handlers.on_invitations_created(self.db, event, event.payload["invitations"])

    @handle_event(INVITATION_ACCEPTED)
    def on_invitation_accepted(self, event):
        handlers.on_invitation_closed(self.db, event, InvitationState.ACCEPTED)

    @handle_event(INVITATION_REVOKED)
    def on_invitation_revoked(self, event):
        handlers.on_invitation_closed(self.db, event, InvitationState.REVOKED)

    @handle_event(INVITATION_EXPIRED)
    def on_invitation_expired(self, event):
        handlers.on_invitation_closed(self.db, event, InvitationState.EXPIRED)

    on_invitation_resent = handled_by(INVITATION_RESENT, handlers.on_invitation_resent)
