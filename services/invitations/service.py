"""invitations' nameko entrypoints: load input, ask identity and programs what
only they know, call the domain, dump output."""
import base64
import binascii
import logging

from nameko.rpc import RpcProxy

from contracts.errors import AppError, ErrorCode
from contracts.invitations import (
    ImportSchema,
    InvitationQuerySchema,
    InvitationSchema,
    NewInvitationSchema,
    PreviewSchema,
)
from servicekit import config
from servicekit.entrypoints import rpc, timer
from servicekit.events import handle_event
from servicekit.service import ServiceBase
from services.invitations import csvfile, domain

log = logging.getLogger(__name__)

IMPORT_POLL_SECONDS = float(config.env("INVITATION_IMPORT_POLL_SECONDS", "1"))
EXPIRY_INTERVAL_SECONDS = float(config.env("INVITATION_EXPIRY_INTERVAL_SECONDS", "60"))


class InvitationsService(ServiceBase):
    name = "invitations"
    identity = RpcProxy("identity")
    programs = RpcProxy("programs")

    # ---- helpers asking the other services
    def _program_and_contract(self, org_id, program_id, contract_id) -> dict:
        program = self.programs.get_program(org_id, program_id)
        if str(contract_id) not in program.get("contract_ids", []):
            raise AppError(ErrorCode.INVALID_INPUT, "this contract is not one of the program's contracts",
                           {"contract_id": ["not a contract of this program"]})
        return program

    def _ensure_person(self, org_id, person) -> dict:
        return domain.retrying_race(self.identity.ensure_person, org_id, person)

    # ---- single invitations
    @rpc
    def preview_invitation(self, org_id, data):
        data = NewInvitationSchema().load(data)
        program = self._program_and_contract(org_id, data["program_id"], data["contract_id"])
        contract = self.programs.get_contract(org_id, data["contract_id"])
        org = self.identity.get_organization(org_id)
        warnings = []
        if domain.pending_for(self.db, program["id"], data["email"]) is not None:
            warnings.append(ErrorCode.DUPLICATE_INVITATION)
        user = self.identity.find_user(data["email"])
        if user and self.programs.membership_state(program["id"], user["id"]) == "MEMBER":
            warnings.append(ErrorCode.ALREADY_MEMBER)
        return PreviewSchema().dump(domain.preview(org, program, contract, data, warnings))

    @rpc
    def create_invitation(self, org_id, data, invited_by=None):
        data = NewInvitationSchema().load(data)
        program = self._program_and_contract(org_id, data["program_id"], data["contract_id"])
        if domain.pending_for(self.db, program["id"], data["email"]) is not None:
            raise AppError(ErrorCode.DUPLICATE_INVITATION, "a pending invitation to this program exists for this "
                           "email", {"email": [data["email"]]})
        person = self._ensure_person(org_id, {"email": data["email"], "full_name": data["full_name"],
                                              "external_id": data["external_id"]})
        if self.programs.membership_state(program["id"], person["user_id"]) == "MEMBER":
            raise AppError(ErrorCode.ALREADY_MEMBER, "this person is already a member of the program")
        org = self.identity.get_organization(org_id)
        person = {**person, "full_name": data["full_name"], "external_id": data["external_id"]}
        inv = domain.create_invitation(self.db, org_id, program, data["contract_id"], person, data["send_email"],
                                       invited_by, org.get("default_invitation_message"))
        return InvitationSchema().dump(domain.view(inv))

    @rpc
    def locate_invitation(self, invitation_id):
        return domain.locate_invitation(self.db, invitation_id)

    @rpc
    def get_invitation(self, org_id, invitation_id):
        return InvitationSchema().dump(domain.view(domain.get_invitation(self.db, org_id, invitation_id)))

    @rpc
    def list_invitations(self, org_id, program_id, query=None):
        params = InvitationQuerySchema().load(query or {})
        result = domain.list_invitations(self.db, org_id, program_id, params["state"], params["limit"],
                                         params["cursor"])
        return {"items": InvitationSchema(many=True).dump(result["items"]), "next_cursor": result["next_cursor"]}

    @rpc
    def resend_invitation(self, org_id, invitation_id):
        inv = domain.get_invitation(self.db, org_id, invitation_id, lock=True)
        program = self.programs.get_program(org_id, inv.program_id)
        org = self.identity.get_organization(org_id)
        inv = domain.resend(self.db, inv, program["name"], org.get("default_invitation_message"))
        return InvitationSchema().dump(domain.view(inv))

    @rpc
    def resend_pending(self, org_id, program_id):
        program = self.programs.get_program(org_id, program_id)
        org = self.identity.get_organization(org_id)
        count = domain.resend_pending(self.db, org_id, program["id"], program["name"],
                                      org.get("default_invitation_message"))
        return {"resent": count}

    @rpc
    def revoke_invitations(self, org_id, invitation_ids, program_id=None):
        revoked = domain.revoke(self.db, org_id, list(invitation_ids), program_id)
        return InvitationSchema(many=True).dump([domain.view(inv) for inv in revoked])

    # ---- joining
    @rpc
    def invitation_page(self, token):
        """What the person holding the link may see: the program and the branding."""
        inv = domain.invitation_for_token(self.db, token)
        program = self.programs.locate_program(inv.program_id)
        org = self.identity.get_organization(inv.org_id)
        return {"program_name": program["name"], "organization_name": org["name"],
                "brand_color": org.get("brand_color"), "logo_url": org.get("logo_url"),
                "banner_url": org.get("banner_url"), "custom_message": org.get("default_invitation_message"),
                "state": inv.state, "expires_at": inv.expires_at.isoformat()}

    @rpc
    def accept(self, token, full_name=None, password=None):
        """Holding the row lock until the join is recorded: concurrent accepts of
        one link queue up and the later ones find it used."""
        inv = domain.invitation_for_token(self.db, token, lock=True)
        user = self.identity.account_for_invitation(inv.email, full_name or inv.full_name, password)
        membership = self.programs.join_program(inv.org_id, inv.program_id, user["id"], inv.contract_id, inv.id,
                                                inv.email, user.get("full_name") or inv.full_name)
        domain.mark_accepted(self.db, inv, user["id"])
        tokens = self.identity.issue_tokens(user["id"])
        return {**tokens, "program_id": inv.program_id, "invitation_id": inv.id, "membership": membership}

    @rpc
    def join_by_program(self, org_id, program_id, user_id, email):
        """A signed-in person with a verified email joins by the program URL."""
        inv = domain.pending_for(self.db, program_id, email, lock=True)
        if inv is None or inv.org_id != org_id:
            raise AppError(ErrorCode.NOT_INVITED, "there is no pending invitation to this program for your email")
        if inv.expires_at <= domain.now():
            raise AppError(ErrorCode.INVITATION_EXPIRED, "your invitation has expired; ask for a new one")
        membership = self.programs.join_program(org_id, program_id, user_id, inv.contract_id, inv.id, inv.email,
                                                inv.full_name)
        domain.mark_accepted(self.db, inv, user_id)
        return {"program_id": program_id, "invitation_id": inv.id, "membership": membership}

    # ---- bulk
    @rpc
    def start_import(self, org_id, program_id, contract_id, send_email, content_b64, filename=None,
                     invited_by=None):
        """Record the uploaded file and its job; the worker below does the rows."""
        try:
            content = base64.b64decode(content_b64, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise AppError(ErrorCode.INVALID_INPUT, "the file must travel base64-encoded") from None
        program = self._program_and_contract(org_id, program_id, contract_id)
        org = self.identity.get_organization(org_id)
        job = domain.start_import(self.db, org_id, program, contract_id, bool(send_email), invited_by,
                                  org.get("default_invitation_message"), filename, content)
        return ImportSchema().dump(domain.import_view(job))

    @rpc
    def locate_import(self, import_id):
        return domain.locate_import(self.db, import_id)

    @rpc
    def get_import(self, org_id, import_id):
        return ImportSchema().dump(domain.import_view(domain.get_import(self.db, org_id, import_id)))

    @rpc
    def rejected_csv(self, org_id, import_id):
        return domain.rejected_rows(self.db, org_id, import_id)

    @rpc
    def template_csv(self):
        return csvfile.TEMPLATE

    @timer(interval=IMPORT_POLL_SECONDS)
    def work_on_imports(self):
        """Every replica runs this; each import is claimed by one of them."""
        claimed = domain.claim_import(self.db)
        self.db.commit()
        if claimed is None:
            return
        import_id, owner = claimed
        try:
            domain.run_import(self.db, import_id, owner, self.identity.ensure_people)
        except domain.LeaseLost:
            log.warning("import %s was taken over by another worker", import_id)
            self.db.rollback()
        except Exception:
            # Left RUNNING: once its lease runs out it is claimed again and resumes.
            log.exception("import %s stopped; it will resume", import_id)
            self.db.rollback()

    @timer(interval=EXPIRY_INTERVAL_SECONDS)
    def expire_invitations(self):
        while domain.expire_due(self.db) == domain.EXPIRY_BATCH:
            self.db.commit()

    # ---- programs' facts
    @handle_event("programs", "programs.member.joined.v1")
    def on_member_joined(self, event):
        domain.member_joined(self.db, event.payload["program_id"], event.payload["user_id"])

    @handle_event("programs", "programs.member.removed.v1")
    def on_member_removed(self, event):
        p = event.payload
        domain.member_left(self.db, p["program_id"], p["user_id"])
        reason = "PROGRAM_REMOVED" if p["reason"] == "PROGRAM_REMOVED" else "MEMBER_REMOVED"
        domain.revoke_pending_of(self.db, p["program_id"], reason, user_id=p["user_id"])

    @handle_event("programs", "programs.program.removed.v1")
    def on_program_removed(self, event):
        domain.member_left(self.db, event.payload["program_id"])
        domain.revoke_pending_of(self.db, event.payload["program_id"], "PROGRAM_REMOVED")
