"""The audit log (admins): who did what, when and from where, newest first, with the API's
filters (actor, action or action prefix, target, time window), keyset pages and the CSV export.

Read-only, like the API it shows (`GET /v1/orgs/{org_id}/audit`): org admins see the whole
organization's log, program admins the entries of their programs (the gateway decides)."""
from datetime import UTC, datetime

from flask import Blueprint, render_template, request

from console.gateway import ApiError
from console.pages.admin import passthrough
from console.pages.common import message_of
from console.web import api, api_raw, org_id, require_admin

pages = Blueprint("audit", __name__)
FILTERS = ("actor", "action", "target")
PAGE_SIZE = 50


def _instant(value: str) -> str | None:
    """A `datetime-local` field (the admin's wall clock, taken as UTC: the page says so) as ISO 8601."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC).isoformat()
    except ValueError:
        return value  # the API answers INVALID_INPUT with the field's name, shown on the page


def filters_of(args) -> dict:
    """The API's query parameters from the page's form (empty fields left out)."""
    params = {name: args[name].strip() for name in FILTERS if args.get(name, "").strip()}
    for name in ("from", "to"):
        instant = _instant(args.get(name, "").strip())
        if instant:
            params[name] = instant
    return params


@pages.route("/admin/audit")
@require_admin
def log():
    params = filters_of(request.args)
    entries, errors, status = {"items": [], "next_cursor": None}, None, 200
    try:
        entries = api("GET", f"/v1/orgs/{org_id()}/audit",
                      params=params | {"limit": PAGE_SIZE, **({"cursor": request.args["cursor"]}
                                                              if request.args.get("cursor") else {})})
    except ApiError as exc:
        if exc.status != 400:
            raise
        errors, status = exc.field_errors() or {"_schema": [message_of(exc)]}, 400
    form = {name: request.args.get(name, "") for name in (*FILTERS, "from", "to")}
    return render_template("audit/log.html", entries=entries, form=form, errors=errors,
                           filtered={k: v for k, v in form.items() if v}), status


@pages.route("/admin/audit.csv")
@require_admin
def export():
    return passthrough(api_raw("GET", f"/v1/orgs/{org_id()}/audit.csv", params=filters_of(request.args),
                               stream=True))
