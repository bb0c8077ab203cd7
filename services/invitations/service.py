"""invitations' nameko entrypoints: decode the input, call one function
(commands, queries, handlers, importer), encode the output."""
import base64
import binascii

from contracts.errors import AppError, ErrorCode
from contracts.identity import SCIM_ENTITLEMENTS_CHANGED
from contracts.invitations import (
    ImportSchema,
    InvitationQuerySchema,
    InvitationSchema,
    NewInvitationSchema,
    PreviewSchema,
)
from contracts.programs import MEMBER_JOINED, MEMBER_REMOVED, PROGRAM_REMOVED
from servicekit.entrypoints import rpc
from servicekit.events import handle_event, handled_by
from servicekit.rpc import ServiceRpc
from servicekit.service import ServiceBase, ServiceSettings
from services.invitations import commands, csvfile, handlers, importer, queries
from services.invitations.peers import Peers
from services.invitations.settings import InvitationSettings, settings_timer


class InvitationsService(ServiceBase):
    name = "invitations"
    identity = ServiceRpc("identity")  # deadline RPC_TIMEOUT: a silent peer is SERVICE_UNAVAILABLE
    programs = ServiceRpc("programs")
    settings = ServiceSettings(InvitationSettings)

    @property
    def peers(self) -> Peers:
        return Peers(self.identity, self.programs)

    # ---- single invitations
    @rpc
    def preview_invitation(self, org_id, data):
        learner = NewInvitationSchema().load(data)
        return PreviewSchema().dump(queries.preview(self.db, self.peers, self.settings, org_id, learner))

    @rpc
    def create_invitation(self, org_id, data, invited_by=None):
        data = NewInvitationSchema().load(data)
        inv = commands.invite(self.db, self.peers, self.settings, org_id, data, invited_by)
        return InvitationSchema().dump(queries.view(inv))

    @rpc
    def locate_invitation(self, invitation_id):
        return queries.locate_invitation(self.db, invitation_id)

    @rpc
    def get_invitation(self, org_id, invitation_id):
        return InvitationSchema().dump(queries.view(queries.get_invitation(self.db, org_id, invitation_id)))

    @rpc
    def list_invitations(self, org_id, program_id, query=None):
        params = InvitationQuerySchema().load(query or {})
        result = queries.list_invitations(self.db, org_id, program_id, params["state"], params["limit"],
                                          params["cursor"])
        return {"items": InvitationSchema(many=True).dump(result["items"]), "next_cursor": result["next_cursor"]}

    @rpc
    def resend_invitation(self, org_id, invitation_id):
        inv = commands.resend(self.db, self.peers, self.settings, org_id, invitation_id)
        return InvitationSchema().dump(queries.view(inv))

    @rpc
    def resend_pending(self, org_id, program_id):
        return {"resent": commands.resend_pending(self.db, self.peers, self.settings, org_id, program_id)}

    @rpc
    def revoke_invitations(self, org_id, invitation_ids, program_id=None):
        revoked = commands.revoke(self.db, org_id, list(invitation_ids), program_id)
        return InvitationSchema(many=True).dump([queries.view(inv) for inv in revoked])

    # ---- joining
    @rpc
    def invitation_page(self, token):
        return queries.invitation_page(self.db, self.peers, token)

    @rpc
    def accept(self, token, full_name=None, password=None, signed_in_user_id=None, client=None):
        return commands.accept(self.db, self.peers, token, full_name, password, signed_in_user_id, client)

    @rpc
    def join_by_program(self, org_id, program_id, user_id, email):
        return commands.join_by_program(self.db, self.peers, org_id, program_id, user_id, email)

    # ---- bulk
    @rpc
    def start_import(self, org_id, program_id, contract_id, send_email, content_b64, filename=None,
                     invited_by=None):
        """Record the uploaded file and its job; the import worker does the rows."""
        try:
            content = base64.b64decode(content_b64, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise AppError(ErrorCode.INVALID_INPUT, "the file must travel base64-encoded") from None
        job = commands.upload_import(self.db, self.peers, org_id, program_id, contract_id, bool(send_email), content,
                                     filename, invited_by)
        return ImportSchema().dump(queries.import_view(job))

    @rpc
    def locate_import(self, import_id):
        return queries.locate_import(self.db, import_id)

    @rpc
    def get_import(self, org_id, import_id):
        return ImportSchema().dump(queries.import_view(queries.get_import(self.db, org_id, import_id)))

    @rpc
    def rejected_csv(self, org_id, import_id):
        return queries.rejected_rows(self.db, org_id, import_id)

    @rpc
    def template_csv(self):
        return csvfile.TEMPLATE

    @settings_timer(lambda settings: settings.import_poll_seconds)
    def work_on_imports(self):
        """Every replica runs this; each import is claimed by one of them."""
        importer.work_on_imports(self.db, self.peers.ensure_people, self.settings)

    @settings_timer(lambda settings: settings.expiry_interval_seconds)
    def expire_invitations(self):
        commands.expire_all_due(self.db, self.settings)

    # ---- programs' facts
    on_member_joined = handled_by(MEMBER_JOINED, handlers.member_joined, payload=True)
    on_member_removed = handled_by(MEMBER_REMOVED, handlers.member_removed, payload=True)
    on_program_removed = handled_by(PROGRAM_REMOVED, handlers.program_removed, payload=True)

    # ---- identity's facts
    @handle_event(SCIM_ENTITLEMENTS_CHANGED, max_attempts=10)  # programs' name asked: ~3 min of retries
    def on_scim_entitlements_changed(self, event):
        """SCIM: unverified accounts are invited to the programs their groups map to (docs/scim.md)."""
        handlers.scim_entitlements_changed(self.db, self.peers, self.settings, event.payload)
