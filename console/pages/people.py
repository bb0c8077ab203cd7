"""People (org admins): everyone of the organization, in a program or in none (GET /v1/orgs/{org_id}/people),
searched by email or name and filtered by business unit and verified address, newest first in keyset
pages; each person's organization profile on its own page (GET/PATCH /v1/orgs/{org_id}/people/{user_id},
the change audited as person.profile_changed), for people who are in no program's member list."""
from flask import Blueprint, render_template, request, url_for

from console.gateway import ApiError
from console.pages.admin import PROFILE_FIELDS, profile_form
from console.pages.common import message_of
from console.web import api, org_id, require_org_admin

pages = Blueprint("people", __name__, url_prefix="/admin/people")
PAGE_SIZE = 25
VERIFIED = [("", "Any"), ("true", "Verified"), ("false", "Not verified yet")]


def _filters(args) -> dict:
    """The API's query parameters from the page's form (empty fields left out)."""
    params = {name: args[name].strip() for name in ("q", "business_unit") if args.get(name, "").strip()}
    if args.get("verified") in ("true", "false"):
        params["verified"] = args["verified"]
    return params


@pages.route("")
@require_org_admin
def people():
    filters = _filters(request.args)
    cursor = request.args.get("cursor") or None
    found, errors, status = {"items": [], "next_cursor": None}, None, 200
    try:
        found = api("GET", f"/v1/orgs/{org_id()}/people",
                    params=filters | {"limit": PAGE_SIZE} | ({"cursor": cursor} if cursor else {}))
    except ApiError as exc:
        if exc.status != 400:
            raise
        errors, status = exc.field_errors() or {"_schema": [message_of(exc)]}, 400
        if set(errors) - {"q", "business_unit", "verified"}:  # a page link (cursor, limit) made by hand
            errors = {"_schema": ["This page link is not valid: search again from the first page."]}
    return render_template("people/list.html", found=found, filters=filters, cursor=cursor, errors=errors,
                           verified_choices=VERIFIED), status


@pages.route("/<user_id>", methods=["GET", "POST"])
@require_org_admin
def person(user_id):
    """A person's organization profile (the report columns), changed by an org admin."""
    found = api("GET", f"/v1/orgs/{org_id()}/people/{user_id}")
    values, errors, done = profile_form(user_id, found, url_for("people.person", user_id=user_id))
    if done:
        return done
    return render_template("people/person.html", person=found, values=values, errors=errors,
                           fields=PROFILE_FIELDS), 400 if errors else 200
