"""messaging's nameko entrypoints: decode, call one function, encode.
Projection and system-email handlers, admin-message RPC, preferences, and the
sender and purge timers."""
from marshmallow import Schema, fields, validate

from contracts import invitations as invitation_events
from contracts import messaging as schemas
from contracts.identity import (
    ADMIN_GRANTED,
    ORG_CREATED,
    ORG_UPDATED,
    PROFILE_UPDATED,
    USER_PASSWORD_RESET_REQUESTED,
    USER_VERIFICATION_REQUESTED,
)
from contracts.programs import (
    ENROLLMENT_CREATED,
    MEMBER_JOINED,
    MEMBER_REMOVED,
    PROGRAM_CREATED,
    PROGRAM_REMOVED,
    PROGRAM_UPDATED,
)
from contracts.reporting import REPORT_READY
from servicekit.db import UnitOfWork
from servicekit.entrypoints import rpc
from servicekit.events import handled_by
from servicekit.rpc import ServiceRpc
from servicekit.service import ServiceBase, ServiceSettings
from services.messaging import audience, handlers, queries, sender
from services.messaging.commands import deliveries, messages, preferences, quotas
from services.messaging.settings import MessagingSettings, settings_timer

REPORTING_TIMEOUT_SECONDS = 5.0


class ViewerSchema(Schema):
    user_id = fields.String(allow_none=True)
    program_scope = fields.List(fields.String(), allow_none=True, load_default=None)


class QuotasSchema(Schema):
    """An organization's own quotas (null: the default)."""

    messages_per_day = fields.Integer(strict=True, allow_none=True, validate=validate.Range(0, 10_000))
    recipients_per_day = fields.Integer(strict=True, allow_none=True, validate=validate.Range(0, 100_000_000))
    reminders_per_program_per_day = fields.Integer(strict=True, allow_none=True, validate=validate.Range(0, 1_000))


class MessagingService(ServiceBase):
    name = "messaging"
    db: UnitOfWork
    settings: MessagingSettings = ServiceSettings(MessagingSettings)
    # the activity presets (INACTIVE_FOR_DAYS, COMPLETED_COURSE) ask reporting, which owns learning activity
    reporting = ServiceRpc("reporting", timeout=REPORTING_TIMEOUT_SECONDS)

    # ---- projection: identity
    on_org_created = handled_by(ORG_CREATED, handlers.on_org_created)
    on_org_updated = handled_by(ORG_UPDATED, handlers.on_org_updated)
    on_profile_updated = handled_by(PROFILE_UPDATED, handlers.on_profile_updated)
    on_admin_granted = handled_by(ADMIN_GRANTED, handlers.on_admin_granted)
    # ---- system emails: identity (account emails, never suppressed)
    on_verification_requested = handled_by(USER_VERIFICATION_REQUESTED, handlers.on_verification_requested)
    on_password_reset_requested = handled_by(USER_PASSWORD_RESET_REQUESTED, handlers.on_password_reset_requested)
    # ---- programs
    on_program_created = handled_by(PROGRAM_CREATED, handlers.on_program_created)
    on_program_updated = handled_by(PROGRAM_UPDATED, handlers.on_program_updated)
    on_program_removed = handled_by(PROGRAM_REMOVED, handlers.on_program_removed)
    on_member_joined = handled_by(MEMBER_JOINED, handlers.on_member_joined)
    on_member_removed = handled_by(MEMBER_REMOVED, handlers.on_member_removed)
    on_enrollment_created = handled_by(ENROLLMENT_CREATED, handlers.on_enrollment_created)
    # ---- invitations
    on_invitation_created = handled_by(invitation_events.INVITATION_CREATED, handlers.on_invitation_created)
    on_invitations_created = handled_by(invitation_events.INVITATIONS_CREATED, handlers.on_invitations_created)
    on_invitation_resent = handled_by(invitation_events.INVITATION_RESENT, handlers.on_invitation_resent)
    on_invitation_accepted = handled_by(invitation_events.INVITATION_ACCEPTED, handlers.on_invitation_closed)
    on_invitation_revoked = handled_by(invitation_events.INVITATION_REVOKED, handlers.on_invitation_closed)
    on_invitation_expired = handled_by(invitation_events.INVITATION_EXPIRED, handlers.on_invitation_closed)

    # ---- reporting
    on_report_ready = handled_by(REPORT_READY, handlers.on_report_ready)

    # ---- admin messages
    @rpc
    def presets(self):
        return schemas.PresetSchema(many=True).dump(audience.presets())

    @rpc
    def count_audience(self, org_id, audience_spec, program_scope=None):
        return {"count": queries.count_audience(self.db, org_id, schemas.AudienceSchema().load(audience_spec),
                                                program_scope, activity=self.reporting)}

    @rpc
    def locate_message(self, message_id):
        return queries.locate_message(self.db, message_id)

    @rpc
    def create_message(self, org_id, author, message, program_scope=None):
        created = messages.create_message(self.db, org_id, schemas.AuthorSchema().load(author), program_scope,
                                          schemas.NewMessageSchema().load(message), activity=self.reporting)
        return schemas.MessageSchema().dump(queries.message_view(self.db, created))

    @rpc
    def list_messages(self, org_id, viewer, limit=50, cursor=None):
        page = queries.list_messages(self.db, org_id, ViewerSchema().load(viewer), limit, cursor)
        return {"items": schemas.MessageSchema(many=True).dump([queries.message_view(self.db, m) for m in page.items]),
                "next_cursor": page.next_cursor}

    @rpc
    def get_message(self, org_id, message_id, viewer):
        message = queries.get_message(self.db, org_id, message_id, ViewerSchema().load(viewer))
        return schemas.MessageSchema().dump(queries.message_view(self.db, message))

    @rpc
    def update_message(self, org_id, message_id, viewer, changes):
        message = messages.update_message(self.db, org_id, message_id, ViewerSchema().load(viewer),
                                          schemas.MessageFieldsSchema().load(changes), activity=self.reporting)
        return schemas.MessageSchema().dump(queries.message_view(self.db, message))

    @rpc
    def discard_message(self, org_id, message_id, viewer):
        messages.discard_message(self.db, org_id, message_id, ViewerSchema().load(viewer))

    @rpc
    def preview_message(self, org_id, message_id, viewer):
        return schemas.PreviewSchema().dump(queries.preview_message(self.db, self.settings, org_id, message_id,
                                                            ViewerSchema().load(viewer), activity=self.reporting))

    @rpc
    def send_message(self, org_id, message_id, viewer, accept_terms):
        message = messages.send_message(self.db, self.settings, org_id, message_id, ViewerSchema().load(viewer),
                                        accept_terms, activity=self.reporting)
        return schemas.MessageSchema().dump(queries.message_view(self.db, message))

    @rpc
    def remind_enroll(self, org_id, program_id, request_id):
        return deliveries.remind_enroll(self.db, self.settings, org_id, program_id, request_id)

    # ---- per-organization quotas
    @rpc
    def get_quotas(self, org_id):
        return queries.get_quotas(self.db, self.settings, org_id)

    @rpc
    def set_quotas(self, org_id, changes):
        """Operators: an organization's own quotas (python -m services.messaging.quotas)."""
        return quotas.set_quotas(self.db, self.settings, org_id, QuotasSchema().load(changes))

    # ---- preferences
    @rpc
    def get_preferences(self, email):
        return schemas.PreferencesSchema().dump(queries.get_preferences(self.db, email))

    @rpc
    def set_preferences(self, email, changes):
        changed = preferences.set_preferences(self.db, email, schemas.PreferencesSchema().load(changes))
        return schemas.PreferencesSchema().dump(changed)

    @rpc
    def describe_unsubscribe(self, token):
        return schemas.UnsubscribeResultSchema().dump(queries.describe_unsubscribe(self.db, self.settings, token))

    @rpc
    def unsubscribe(self, token):
        return schemas.UnsubscribeResultSchema().dump(preferences.unsubscribe(self.db, self.settings, token))

    # ---- delivery
    @settings_timer(lambda s: s.send_interval)
    def send_due(self):
        """Every replica runs it; deliveries are claimed with FOR UPDATE SKIP LOCKED."""
        sender.run(lambda: UnitOfWork(self.db.independent_session, self.db.source), self.settings)

    @settings_timer(lambda s: s.purge_interval)
    def purge_old_deliveries(self):
        while deliveries.purge_old_deliveries(self.db.session, self.settings.delivery_retention_days) \
                == deliveries.PURGE_BATCH:
            self.db.commit()
