"""messaging's nameko entrypoints: projection and system-email handlers,
admin-message RPC, preferences, and the sender timer."""
from datetime import UTC

from marshmallow import Schema, fields

from contracts.messaging import (
    AudienceSchema,
    AuthorSchema,
    MessageFieldsSchema,
    MessageSchema,
    NewMessageSchema,
    PreferencesSchema,
    PresetSchema,
    PreviewSchema,
    UnsubscribeResultSchema,
)
from servicekit import config
from servicekit.entrypoints import rpc, timer
from servicekit.events import handle_event
from servicekit.service import ServiceBase
from services.messaging import audience, domain, sender

SEND_INTERVAL = float(config.env("MESSAGING_SEND_INTERVAL", "0.5"))
PURGE_INTERVAL = float(config.env("MESSAGING_PURGE_INTERVAL_SECONDS", "3600"))


class ViewerSchema(Schema):
    user_id = fields.String(allow_none=True)
    program_scope = fields.List(fields.String(), allow_none=True, load_default=None)


class MessagingService(ServiceBase):
    name = "messaging"

    # ---- projection: identity
    @handle_event("identity", "identity.org.created.v1")
    def on_org_created(self, event):
        domain.upsert_org(self.db, event.payload["org_id"], event.payload)

    @handle_event("identity", "identity.org.updated.v1")
    def on_org_updated(self, event):
        domain.upsert_org(self.db, event.payload["org_id"], event.payload["settings"])

    @handle_event("identity", "identity.profile.updated.v1")
    def on_profile_updated(self, event):
        p = event.payload
        domain.person_seen(self.db, p["org_id"], p["user_id"], p["email"], p["full_name"])

    @handle_event("identity", "identity.admin.granted.v1")
    def on_admin_granted(self, event):
        p = event.payload
        domain.person_seen(self.db, p["org_id"], p["user_id"], p["email"], p["full_name"])

    # ---- system emails: identity (account emails, never suppressed)
    @handle_event("identity", "identity.user.verification_requested.v1")
    def on_verification_requested(self, event):
        p = event.payload
        domain.queue_email(self.db, source_key=event.id, template="verify_email", email=p["email"],
                           org_id=event.org_id, user_id=p["user_id"], full_name=p["full_name"],
                           context={"verify_url": p["verify_url"], "expires_at": _when(p["expires_at"])})

    @handle_event("identity", "identity.user.password_reset_requested.v1")
    def on_password_reset_requested(self, event):
        p = event.payload
        template = "first_password" if p["reason"] == "FIRST_PASSWORD" else "password_reset"
        domain.queue_email(self.db, source_key=event.id, template=template, email=p["email"],
                           org_id=p.get("org_id") or event.org_id, user_id=p["user_id"], full_name=p["full_name"],
                           context={"reset_url": p["reset_url"], "expires_at": _when(p["expires_at"])})

    # ---- programs
    @handle_event("programs", "programs.program.created.v1")
    def on_program_created(self, event):
        domain.upsert_program(self.db, event.payload)

    @handle_event("programs", "programs.program.updated.v1")
    def on_program_updated(self, event):
        domain.upsert_program(self.db, event.payload)

    @handle_event("programs", "programs.program.removed.v1")
    def on_program_removed(self, event):
        # Members get their exit email from member.removed (reason PROGRAM_REMOVED).
        domain.upsert_program(self.db, event.payload, removed=True)

    @handle_event("programs", "programs.member.joined.v1")
    def on_member_joined(self, event):
        p = event.payload
        domain.person_seen(self.db, p["org_id"], p["user_id"], p["email"], p["full_name"])
        domain.set_membership(self.db, p, active=True)
        domain.queue_email(self.db, source_key=event.id, template="program_welcome", email=p["email"],
                           org_id=p["org_id"], user_id=p["user_id"], full_name=p["full_name"],
                           context={"program_name": p["program_name"],
                                    "program_url": domain.program_url(self.db, p["program_id"])})

    @handle_event("programs", "programs.member.removed.v1")
    def on_member_removed(self, event):
        p = event.payload
        domain.set_membership(self.db, p, active=False)
        domain.queue_email(self.db, source_key=event.id, template="program_exit", email=p["email"],
                           org_id=p["org_id"], user_id=p["user_id"], full_name=p["full_name"],
                           context={"program_name": p["program_name"], "reason": p["reason"]})

    @handle_event("programs", "programs.enrollment.created.v1")
    def on_enrollment_created(self, event):
        p = event.payload
        domain.person_seen(self.db, p["org_id"], p["user_id"], p.get("email"), p.get("full_name"))
        domain.upsert_enrollment(self.db, p)
        template = "specialization_welcome" if p["kind"] == "SPECIALIZATION" else "course_welcome"
        domain.queue_email(self.db, source_key=event.id, template=template, email=p.get("email"),
                           org_id=p["org_id"], user_id=p["user_id"], full_name=p.get("full_name"),
                           context={"item_name": p["item_name"],
                                    "program_name": domain.program_name(self.db, p["program_id"]),
                                    "item_url": domain.program_url(self.db, p["program_id"])})

    # ---- invitations
    @handle_event("invitations", "invitations.invitation.created.v1")
    def on_invitation_created(self, event):
        p = event.payload
        domain.person_seen(self.db, p["org_id"], p.get("user_id"), p["email"], p.get("full_name"))
        domain.upsert_invitation(self.db, p)
        if p.get("send_email") and p.get("accept_url"):
            self._queue_invitation(event)

    @handle_event("invitations", "invitations.invitations.created.v1")
    def on_invitations_created(self, event):
        """A CSV import's batch: the same as on_invitation_created, set-based."""
        p, items = event.payload, event.payload["invitations"]
        domain.people_seen(self.db, p["org_id"], items)
        domain.upsert_invitations(self.db, p, items)
        if p["send_email"]:
            domain.queue_emails(self.db, event.id, "invitation", [
                {"email": i["email"], "org_id": p["org_id"], "user_id": i["user_id"], "full_name": i["full_name"],
                 "context": _invitation_context(p, i)} for i in items if i.get("accept_url")])

    @handle_event("invitations", "invitations.invitation.resent.v1")
    def on_invitation_resent(self, event):
        self._queue_invitation(event)

    def _queue_invitation(self, event):
        p = event.payload
        domain.queue_email(self.db, source_key=event.id, template="invitation", email=p["email"],
                           org_id=p["org_id"], user_id=p.get("user_id"), full_name=p.get("full_name"),
                           context=_invitation_context(p, p))

    @handle_event("invitations", "invitations.invitation.accepted.v1")
    def on_invitation_accepted(self, event):
        domain.close_invitation(self.db, event.payload["invitation_id"])

    @handle_event("invitations", "invitations.invitation.revoked.v1")
    def on_invitation_revoked(self, event):
        domain.close_invitation(self.db, event.payload["invitation_id"])

    @handle_event("invitations", "invitations.invitation.expired.v1")
    def on_invitation_expired(self, event):
        domain.close_invitation(self.db, event.payload["invitation_id"])

    # ---- admin messages
    @rpc
    def presets(self):
        return PresetSchema(many=True).dump(audience.presets())

    @rpc
    def count_audience(self, org_id, audience_spec, program_scope=None):
        return {"count": domain.count_audience(self.db, org_id, AudienceSchema().load(audience_spec), program_scope)}

    @rpc
    def locate_message(self, message_id):
        return domain.locate_message(self.db, message_id)

    @rpc
    def create_message(self, org_id, author, message, program_scope=None):
        created = domain.create_message(self.db, org_id, AuthorSchema().load(author), program_scope,
                                        NewMessageSchema().load(message))
        return MessageSchema().dump(domain.message_view(self.db, created))

    @rpc
    def list_messages(self, org_id, viewer, limit=50, cursor=None):
        messages, next_cursor = domain.list_messages(self.db, org_id, ViewerSchema().load(viewer), limit, cursor)
        return {"items": MessageSchema(many=True).dump([domain.message_view(self.db, m) for m in messages]),
                "next_cursor": next_cursor}

    @rpc
    def get_message(self, org_id, message_id, viewer):
        message = domain.get_message(self.db, org_id, message_id, ViewerSchema().load(viewer))
        return MessageSchema().dump(domain.message_view(self.db, message))

    @rpc
    def update_message(self, org_id, message_id, viewer, changes):
        message = domain.update_message(self.db, org_id, message_id, ViewerSchema().load(viewer),
                                        MessageFieldsSchema().load(changes))
        return MessageSchema().dump(domain.message_view(self.db, message))

    @rpc
    def discard_message(self, org_id, message_id, viewer):
        domain.discard_message(self.db, org_id, message_id, ViewerSchema().load(viewer))

    @rpc
    def preview_message(self, org_id, message_id, viewer):
        return PreviewSchema().dump(domain.preview_message(self.db, org_id, message_id, ViewerSchema().load(viewer)))

    @rpc
    def send_message(self, org_id, message_id, viewer, accept_terms):
        message = domain.send_message(self.db, org_id, message_id, ViewerSchema().load(viewer), accept_terms)
        return MessageSchema().dump(domain.message_view(self.db, message))

    @rpc
    def remind_enroll(self, org_id, program_id, request_id):
        return domain.remind_enroll(self.db, org_id, program_id, request_id)

    # ---- preferences
    @rpc
    def get_preferences(self, email):
        return PreferencesSchema().dump(domain.get_preferences(self.db, email))

    @rpc
    def set_preferences(self, email, changes):
        return PreferencesSchema().dump(domain.set_preferences(self.db, email, PreferencesSchema().load(changes)))

    @rpc
    def describe_unsubscribe(self, token):
        return UnsubscribeResultSchema().dump(domain.describe_unsubscribe(self.db, token))

    @rpc
    def unsubscribe(self, token):
        return UnsubscribeResultSchema().dump(domain.unsubscribe(self.db, token))

    # ---- delivery
    @timer(interval=SEND_INTERVAL)
    def send_due(self):
        """Every replica runs it; deliveries are claimed with FOR UPDATE SKIP LOCKED."""
        sender.run(self.db.independent_session)

    @timer(interval=PURGE_INTERVAL)
    def purge_old_deliveries(self):
        while domain.purge_old_deliveries(self.db.session) == domain.PURGE_BATCH:
            self.db.commit()


def _when(value) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if hasattr(value, "astimezone") else str(value)


def _invitation_context(common: dict, invitation: dict) -> dict:
    """What the invitation email shows: program and message from the event,
    link and expiry from the invitation."""
    return {"program_name": common["program_name"], "accept_url": invitation["accept_url"],
            "custom_message": common.get("custom_message"), "expires_at": _when(invitation["expires_at"])}
