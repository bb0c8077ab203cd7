"""Messaging endpoints (docs/api.md: "Messaging", learner email preferences, the
funnel's remind-to-enroll action, and the public one-click unsubscribe)."""
import html

from marshmallow import Schema, fields
from werkzeug.wrappers import Response

from contracts.common import PageQuerySchema
from contracts.errors import AppError, ErrorCode
from contracts.messaging import (
    AudienceSchema,
    MessageFieldsSchema,
    MessageSchema,
    NewMessageSchema,
    PreferencesSchema,
    PresetSchema,
    PreviewSchema,
    UnsubscribeResultSchema,
)
from gateway.http import PUBLIC, Reply, route
from gateway.routes import Routes, require_changes


class AudienceCount(Schema):
    count = fields.Integer()


class MessageList(Schema):
    items = fields.List(fields.Nested(MessageSchema))
    next_cursor = fields.String(allow_none=True)


class SendBody(Schema):
    accept_terms = fields.Boolean(load_default=False,
                                  metadata={"description": "true: the terms of use and privacy policy are accepted"})


class ReminderResult(Schema):
    recipients = fields.Integer()
    queued = fields.Integer()
    suppressed = fields.Integer()


UNSUBSCRIBE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Unsubscribe</title></head>
<body style="font-family:Arial,sans-serif;max-width:520px;margin:40px auto;">
<h1>Unsubscribe</h1><p>{message}</p>{form}</body></html>"""
CATEGORY_NAMES = {"PROGRAM": "program messages", "COURSE": "course announcements"}


class MessagingRoutes(Routes):
    def _viewer(self, call, org_id: str) -> dict:
        return {"user_id": call.principal.user_id, "program_scope": call.principal.program_scope(org_id)}

    def _my_email(self, call) -> str:
        return call.principal.email or self.identity.get_user(call.principal.user_id)["email"]

    @route("GET", "/v1/messages/presets", scope="messages:read", response=PresetSchema, many=True, tags=("messaging",),
           summary="Audience presets of admin messages (activity ones need the reporting service)")
    def message_presets(self, call):
        if not call.principal.admin_orgs():
            raise AppError(ErrorCode.FORBIDDEN, "only admins write messages")
        return self.messaging.presets()

    @route("POST", "/v1/orgs/{org_id}/audience", body=AudienceSchema, response=AudienceCount, tags=("messaging",),
           summary="How many people an audience reaches (program admins: within their programs)")
    def count_audience(self, call, org_id):
        scope = call.principal.program_scope(org_id)
        return self.messaging.count_audience(org_id, AudienceSchema().dump(call.body), scope)

    @route("GET", "/v1/orgs/{org_id}/messages", scope="messages:read",
           query=PageQuerySchema, response=MessageList, tags=("messaging",),
           summary="Admin messages, newest first (org admins: all; program admins: their own)")
    def list_messages(self, call, org_id):
        viewer = self._viewer(call, org_id)
        return self.messaging.list_messages(org_id, viewer, call.query["limit"], call.query["cursor"])

    @route("POST", "/v1/orgs/{org_id}/messages", body=NewMessageSchema, response=MessageSchema, status=201,
           tags=("messaging",), summary="Create a draft message (sender name defaults to the admin's name)")
    def create_message(self, call, org_id):
        scope = call.principal.program_scope(org_id)
        user = self.identity.get_user(call.principal.user_id)
        author = {"user_id": user["id"], "email": user["email"], "full_name": user["full_name"]}
        return self.messaging.create_message(org_id, author, NewMessageSchema().dump(call.body), scope)

    @route("GET", "/v1/messages/{message_id}", scope="messages:read", response=MessageSchema, tags=("messaging",),
           summary="A message, with its delivery counts once sent")
    def get_message(self, call, message_id):
        org_id = self.scope.message_org(call.principal, message_id)
        return self.messaging.get_message(org_id, message_id, self._viewer(call, org_id))

    @route("PATCH", "/v1/messages/{message_id}", body=MessageFieldsSchema, response=MessageSchema,
           tags=("messaging",), summary="Change a draft", errors=("MESSAGE_NOT_EDITABLE",))
    def update_message(self, call, message_id):
        org_id = self.scope.message_org(call.principal, message_id)
        require_changes(call.body)
        return self.messaging.update_message(org_id, message_id, self._viewer(call, org_id),
                                             MessageFieldsSchema().dump(call.body))

    @route("DELETE", "/v1/messages/{message_id}", status=204, tags=("messaging",), summary="Discard a draft",
           errors=("MESSAGE_NOT_EDITABLE",))
    def discard_message(self, call, message_id):
        org_id = self.scope.message_org(call.principal, message_id)
        self.messaging.discard_message(org_id, message_id, self._viewer(call, org_id))
        return Reply(status=204)

    @route("POST", "/v1/messages/{message_id}/preview", response=PreviewSchema, tags=("messaging",),
           summary="The HTML and text exactly as a recipient gets them")
    def preview_message(self, call, message_id):
        org_id = self.scope.message_org(call.principal, message_id)
        return self.messaging.preview_message(org_id, message_id, self._viewer(call, org_id))

    @route("POST", "/v1/messages/{message_id}/send", body=SendBody, response=MessageSchema, status=202,
           tags=("messaging",), summary="Send a draft (requires accept_terms: true); delivery runs in the background",
           errors=("TERMS_NOT_ACCEPTED", "MESSAGE_NOT_EDITABLE", "TOO_MANY_REQUESTS"))
    def send_message(self, call, message_id):
        org_id = self.scope.message_org(call.principal, message_id)
        return self.messaging.send_message(org_id, message_id, self._viewer(call, org_id), call.body["accept_terms"])

    @route("POST", "/v1/programs/{program_id}/remind-enroll", response=ReminderResult, status=202,
           tags=("messaging",), summary="Email the program's members who have not enrolled yet (funnel quick action)",
           errors=("TOO_MANY_REQUESTS",))
    def remind_enroll(self, call, program_id):
        program = self.scope.program(call.principal, program_id)
        return self.messaging.remind_enroll(program["org_id"], program["id"], call.request_id)

    # ---- learners
    @route("GET", "/v1/me/email-preferences", response=PreferencesSchema, tags=("me",),
           summary="Which optional emails I receive (account emails and invitations are always sent)")
    def get_email_preferences(self, call):
        return self.messaging.get_preferences(self._my_email(call))

    @route("PUT", "/v1/me/email-preferences", body=PreferencesSchema, response=PreferencesSchema, tags=("me",),
           summary="Opt out of (or back into) program messages and course announcements")
    def put_email_preferences(self, call):
        return self.messaging.set_preferences(self._my_email(call), PreferencesSchema().dump(call.body))

    # ---- one-click unsubscribe (the signed link in every non-account email; no login)
    @route("GET", "/v1/unsubscribe/{token}", auth=PUBLIC, tags=("me",), content_type="text/html",
           responses={404: ("This unsubscribe link is not valid (an HTML page)", "text/html", None)},
           summary="A page confirming the unsubscribe (GET changes nothing: link scanners follow links)")
    def unsubscribe_page(self, call, token):
        try:
            info = self.messaging.describe_unsubscribe(token)
        except AppError as exc:
            if exc.code != ErrorCode.TOKEN_INVALID:
                raise
            page = UNSUBSCRIBE_PAGE.format(message="This unsubscribe link is not valid.", form="")
            return Response(page, status=404, content_type="text/html; charset=utf-8")
        what = CATEGORY_NAMES[info["category"]]
        if info["unsubscribed"]:
            message, form = f"{html.escape(info['email'])} no longer receives {what}.", ""
        else:
            message = f"Stop sending {what} to {html.escape(info['email'])}?"
            form = '<form method="post"><button type="submit">Unsubscribe</button></form>'
        return Response(UNSUBSCRIBE_PAGE.format(message=message, form=form), content_type="text/html; charset=utf-8")

    @route("POST", "/v1/unsubscribe/{token}", auth=PUBLIC, response=UnsubscribeResultSchema, tags=("me",),
           summary="One-click unsubscribe (RFC 8058 List-Unsubscribe-Post, or the page's button)",
           errors=("TOKEN_INVALID",))
    def unsubscribe(self, call, token):
        return self.messaging.unsubscribe(token)
