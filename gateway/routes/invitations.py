"""Invitations: single and bulk (CSV), joining by link or program URL, resend,
revoke (docs/api.md "Invitations and joining").

Program-scoped actions ask programs where the program lives and check the
caller administers it; invitation- and import-scoped ones ask invitations
where the object lives first. The CSV is not parsed here: its bytes go to the
invitations service, which answers with the import id at once (202)."""
import base64

from marshmallow import Schema, fields, validate
from werkzeug.wrappers import Response

from contracts.common import name_field
from contracts.errors import AppError, ErrorCode, not_found
from contracts.fields import Id, Token, uuid_problem
from contracts.invitations import (
    CSV_TEMPLATE,
    MAX_IMPORT_BYTES,
    AcceptedSchema,
    ImportSchema,
    InvitationFieldsSchema,
    InvitationPageSchema,
    InvitationQuerySchema,
    InvitationSchema,
    NewInvitationSchema,
    PreviewSchema,
)
from gateway.auth import authenticate, bearer_token
from gateway.http import PUBLIC, refuse_characters, route
from gateway.routes import Routes
from gateway.schemas import page_of

MULTIPART_OVERHEAD = 64 * 1024
TRUE, FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


class RevokeManyBody(Schema):
    invitation_ids = fields.List(Id(not_found="invitation"), required=True, validate=validate.Length(1, 1000))


class AcceptBody(Schema):
    token = Token(required=True, min_length=10, max_length=500)
    full_name = name_field(allow_none=True, load_default=None)
    password = Token(allow_none=True, load_default=None, min_length=10, max_length=200,
                     metadata={"description": "required when the invitee has no account yet"})


class ImportForm(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary",
                                               "description": "the CSV (Full Name,Email,External ID), up to 20 MB"})
    program_id = fields.String(required=True, metadata={"format": "uuid"})
    contract_id = fields.String(required=True, metadata={"format": "uuid"})
    send_email = fields.String(metadata={"enum": ["true", "false"], "description": "default true"})


class ImportStarted(Schema):
    import_id = fields.String(required=True)
    status = fields.String(required=True)
    total_rows = fields.Integer()


class ResendAll(Schema):
    resent = fields.Integer(required=True)


class Joined(Schema):
    program_id = fields.String(required=True)
    invitation_id = fields.String(required=True)
    membership = fields.Dict()


def csv_response(body: str, filename: str) -> Response:
    return Response(body, content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def form_flag(value: str | None, default: bool = True) -> bool:
    if value is None or value == "":
        return default
    if value.strip().lower() in TRUE:
        return True
    if value.strip().lower() in FALSE:
        return False
    raise AppError(ErrorCode.INVALID_INPUT, "invalid input", {"send_email": ["use true or false"]})


class InvitationsRoutes(Routes):
    # ---- single invitations
    @route("POST", "/v1/invitations/preview", body=InvitationFieldsSchema, response=PreviewSchema,
           tags=("invitations",),
           summary="What an invitation will create and the email it will send (nothing is created)")
    def preview_invitation(self, call):
        program = self.scope.program(call.principal, call.body["program_id"])
        return self.invitations.preview_invitation(program["org_id"], InvitationFieldsSchema().dump(call.body))

    @route("POST", "/v1/invitations", body=NewInvitationSchema, response=InvitationSchema, status=201,
           tags=("invitations",), summary="Create ('send_email': false) or send an invitation",
           errors=("DUPLICATE_INVITATION", "ALREADY_MEMBER"))
    def create_invitation(self, call):
        program = self.scope.program(call.principal, call.body["program_id"])
        return self.invitations.create_invitation(program["org_id"], NewInvitationSchema().dump(call.body),
                                                  call.principal.user_id)

    @route("GET", "/v1/programs/{program_id}/invitations", scope="invitations:read", query=InvitationQuerySchema,
           response=page_of(InvitationSchema), tags=("invitations",), summary="A program's invitations, by state")
    def list_invitations(self, call, program_id):
        program = self.scope.program(call.principal, program_id)
        return self.invitations.list_invitations(program["org_id"], program["id"], dict(call.query))

    @route("POST", "/v1/invitations/{invitation_id}/resend", response=InvitationSchema, tags=("invitations",),
           summary="Resend a pending invitation (a new link; the old one stops working)",
           errors=("INVITATION_USED", "INVITATION_REVOKED", "INVITATION_EXPIRED"))
    def resend_invitation(self, call, invitation_id):
        where = self.scope.invitation(call.principal, invitation_id)
        return self.invitations.resend_invitation(where["org_id"], invitation_id)

    @route("POST", "/v1/invitations/{invitation_id}/revoke", response=InvitationSchema, tags=("invitations",),
           summary="Revoke a pending invitation", errors=("INVITATION_USED", "INVITATION_REVOKED",
                                                          "INVITATION_EXPIRED"))
    def revoke_invitation(self, call, invitation_id):
        where = self.scope.invitation(call.principal, invitation_id)
        return self.invitations.revoke_invitations(where["org_id"], [invitation_id])[0]

    @route("POST", "/v1/programs/{program_id}/invitations/resend", response=ResendAll, tags=("invitations",),
           summary="Resend every pending invitation of the program (funnel quick action)")
    def resend_all(self, call, program_id):
        program = self.scope.program(call.principal, program_id)
        return self.invitations.resend_pending(program["org_id"], program["id"])

    @route("POST", "/v1/programs/{program_id}/invitations/revoke", body=RevokeManyBody, response=InvitationSchema,
           many=True, tags=("invitations",), summary="Revoke several pending invitations of the program at once")
    def revoke_many(self, call, program_id):
        program = self.scope.program(call.principal, program_id)
        return self.invitations.revoke_invitations(program["org_id"], call.body["invitation_ids"], program["id"])

    # ---- bulk
    @route("GET", "/v1/invitations/template.csv", scope="invitations:read",
           tags=("invitations",), content_type="text/csv",
           summary="The bulk invitation template: Full Name,Email,External ID")
    def invitation_template(self, call):
        if not call.principal.admin_orgs():
            raise AppError(ErrorCode.FORBIDDEN, "only administrators invite people")
        return csv_response(CSV_TEMPLATE, "invitations-template.csv")

    @route("POST", "/v1/invitations/imports", upload=ImportForm, response=ImportStarted, status=202,
           tags=("invitations",),
           summary="Upload a CSV of people to invite (multipart: file, program_id, contract_id, send_email; "
                   "up to 20 MB); rows are processed in the background",
           errors=("INVALID_FILE", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE"))
    def start_import(self, call):
        request = call.request
        if request.content_length is not None and request.content_length > MAX_IMPORT_BYTES + MULTIPART_OVERHEAD:
            raise AppError(ErrorCode.PAYLOAD_TOO_LARGE, "the file is larger than 20 MB")
        if request.mimetype != "multipart/form-data":
            raise AppError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "send the file as multipart/form-data")
        request.max_content_length = MAX_IMPORT_BYTES + MULTIPART_OVERHEAD
        form, upload = request.form, request.files.get("file")
        missing = {name: ["required"] for name in ("program_id", "contract_id") if not form.get(name)}
        if upload is None:
            missing["file"] = ["attach the CSV file as 'file'"]
        if missing:
            raise AppError(ErrorCode.INVALID_INPUT, "invalid input", missing)
        send_email = form_flag(form.get("send_email"))
        for name, what in (("program_id", "program"), ("contract_id", "contract")):
            if uuid_problem(form[name]):
                raise AppError(ErrorCode.NOT_FOUND, f"{what} not found")
        refuse_characters(upload.filename or "", "file")
        program = self.scope.program(call.principal, form["program_id"])
        content = upload.read(MAX_IMPORT_BYTES + 1)
        if len(content) > MAX_IMPORT_BYTES:
            raise AppError(ErrorCode.PAYLOAD_TOO_LARGE, "the file is larger than 20 MB")
        job = self.invitations.start_import(program["org_id"], program["id"], form["contract_id"], send_email,
                                            base64.b64encode(content).decode("ascii"), upload.filename,
                                            call.principal.user_id)
        return {"import_id": job["import_id"], "status": job["status"], "total_rows": job["total_rows"]}

    @route("GET", "/v1/invitations/imports/{import_id}", scope="invitations:read",
           response=ImportSchema, tags=("invitations",),
           summary="Progress and counts of a bulk import")
    def get_import(self, call, import_id):
        where = self.scope.import_job(call.principal, import_id)
        return self.invitations.get_import(where["org_id"], import_id)

    @route("GET", "/v1/invitations/imports/{import_id}/rejected.csv", scope="invitations:read", tags=("invitations",),
           content_type="text/csv", summary="The rows of an import that created nothing, with a Reason column")
    def rejected_rows(self, call, import_id):
        where = self.scope.import_job(call.principal, import_id)
        return csv_response(self.invitations.rejected_csv(where["org_id"], import_id),
                            f"rejected-{import_id}.csv")

    # ---- joining
    @route("GET", "/v1/invitations/by-token/{token}", auth=PUBLIC, response=InvitationPageSchema,
           tags=("joining",), summary="The program and the organization's branding of an invitation link",
           errors=("INVITATION_USED", "INVITATION_REVOKED", "INVITATION_EXPIRED"))
    def invitation_page(self, call, token):
        return self.invitations.invitation_page(token)

    @route("POST", "/v1/invitations/accept", auth=PUBLIC, body=AcceptBody, response=AcceptedSchema,
           tags=("joining",), summary="Accept an invitation: account created or linked, program joined, tokens",
           errors=("INVITATION_USED", "INVITATION_REVOKED", "INVITATION_EXPIRED", "LICENSE_LIMIT_REACHED",
                   "CONTRACT_NOT_ACTIVE", "TOO_MANY_REQUESTS", "INVALID_CREDENTIALS", "TOKEN_EXPIRED"))
    def accept_invitation(self, call):
        """For an account that has a password: signed in as it (a bearer token, optional here) or its password."""
        body = call.body
        signed_in = authenticate(call.request, self.identity) if bearer_token(call.request) else None
        return self.invitations.accept(body["token"], body["full_name"], body["password"],
                                       signed_in_user_id=signed_in.user_id if signed_in else None,
                                       client=call.client)

    @route("POST", "/v1/programs/{slug}/join", response=Joined, tags=("joining",),
           summary="Join by the program URL, signed in with the invited (verified) email",
           errors=("NOT_INVITED", "LICENSE_LIMIT_REACHED", "CONTRACT_NOT_ACTIVE"))
    def join_by_program_url(self, call, slug):
        principal = call.principal
        if not principal.email or not principal.email_verified:
            raise AppError(ErrorCode.NOT_INVITED, "verify your email address first, then join with it")
        program = self.programs.find_program_by_slug(slug)
        try:
            return self.invitations.join_by_program(program["org_id"], program["id"], principal.user_id,
                                                    principal.email)
        except AppError as exc:
            # Outside the program's organization, "not invited" would confirm the program exists.
            if exc.code == ErrorCode.NOT_INVITED and not principal.is_admin(program["org_id"]) \
                    and not self.programs.person_in_org(program["org_id"], principal.user_id):
                raise not_found("program") from None
            raise
