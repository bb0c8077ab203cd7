"""Admin pages: admin home, programs, a program's Main / Invitations / Messaging /
Remove pages. Every handler: call the API, render one template, map API errors to
messages (style.md, "Pages")."""
from datetime import date, timedelta

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from console.gateway import ApiError
from console.pages.common import attempt, field_summary, message_of
from console.web import api, api_raw, is_org_admin, org_id, require_admin, require_org_admin, safe_next

pages = Blueprint("admin", __name__, url_prefix="/admin")
PAGE_SIZE = 25
MEMBER_STATES = [("", "All states"), ("MEMBER", "Members"), ("INVITED", "Invited"),
                 ("DELETED_MEMBER", "Removed members")]


def status_of(exc: ApiError) -> int:
    return exc.status if exc.status < 500 else 503


def optional_api(method: str, path: str, **kwargs):
    """A call to a route that may not exist on this gateway yet (reporting, skills): None when absent."""
    try:
        return api(method, path, **kwargs)
    except ApiError as exc:
        if exc.status in (404, 405, 403, 503):
            return None
        raise


def contracts() -> list[dict]:
    if not is_org_admin():
        return []
    return api("GET", f"/v1/orgs/{org_id()}/contracts", params={"limit": 200})["items"]


def program_of(program_id: str) -> dict:
    return api("GET", f"/v1/programs/{program_id}")


# ---------------------------------------------------------------- admin home


@pages.route("/")
@require_admin
def home():
    org = org_id()
    programs = api("GET", f"/v1/orgs/{org}/programs", params={"limit": 200})["items"]
    summary = optional_api("GET", f"/v1/orgs/{org}/summary") if is_org_admin() else None
    funnel = optional_api("GET", f"/v1/orgs/{org}/funnel") if is_org_admin() else None
    return render_template("admin/home.html", programs=programs, summary=summary, funnel=funnel,
                           contracts=contracts())


@pages.route("/programs/new", methods=["GET", "POST"])
@require_org_admin
def new_program():
    available = contracts()
    values = {k: request.form.get(k, "").strip() for k in ("name", "tagline", "enrollment_limit", "banner_url")}
    chosen = request.form.getlist("contract_ids")
    if request.method == "GET":
        return render_template("admin/program_new.html", contracts=available, values=values, chosen=chosen)
    body = {"name": values["name"], "contract_ids": chosen}
    if values["tagline"]:
        body["tagline"] = values["tagline"]
    if values["banner_url"]:
        body["banner_url"] = values["banner_url"]
    errors = {}
    if values["enrollment_limit"]:
        try:
            body["enrollment_limit"] = int(values["enrollment_limit"])
        except ValueError:
            errors["enrollment_limit"] = ["Enter a whole number."]
    if not chosen:
        errors["contract_ids"] = ["Choose at least one contract (create one first if there is none)."]
    if not errors:
        try:
            program = api("POST", f"/v1/orgs/{org_id()}/programs", json=body)
            flash(f"Program “{program['name']}” created. Its join link: {program['join_url']}")
            return redirect(url_for("admin.program", program_id=program["id"]))
        except ApiError as exc:
            errors = exc.field_errors() or {"name": [message_of(exc, {
                "DUPLICATE_NAME": "A program with this name exists: choose another name."})]}
    return render_template("admin/program_new.html", contracts=available, values=values, chosen=chosen,
                           errors=errors), 400


@pages.route("/contracts/new", methods=["GET", "POST"])
@require_org_admin
def new_contract():
    from console.pages.settings import contract_errors, contract_form

    back = request.values.get("back", "")
    if request.method == "GET":
        today = date.today()
        values = {"starts_on": str(today), "ends_on": str(today + timedelta(days=365))}
        return render_template("admin/contract_new.html", values=values, back=back)
    values, body, errors = contract_form()
    if not errors:
        try:
            contract = api("POST", f"/v1/orgs/{org_id()}/contracts", json=body)
            flash(f"Contract “{contract['name']}” created with {contract['license_count']} licenses.")
            return redirect(url_for("admin.new_program") if back == "program" else url_for("settings.contracts"))
        except ApiError as exc:
            errors = contract_errors(exc)
    return render_template("admin/contract_new.html", values=values, back=back, errors=errors), 400


# ---------------------------------------------------------------- a program: Main


@pages.route("/programs/<program_id>")
@require_admin
def program(program_id):
    prog = program_of(program_id)
    state = request.args.get("state", "")
    q = request.args.get("q", "").strip()
    cursor = request.args.get("cursor") or None
    params = {"limit": PAGE_SIZE, **({"state": state} if state else {}), **({"q": q} if q else {}),
              **({"cursor": cursor} if cursor else {})}
    members = api("GET", f"/v1/programs/{program_id}/members", params=params)
    collections = api("GET", f"/v1/programs/{program_id}/collections")
    template = "admin/_members.html" if request.headers.get("HX-Request") and request.args.get("fragment") \
        else "admin/program_main.html"
    return render_template(template, program=prog, members=members, collections=collections, state=state, q=q,
                           cursor=cursor, states=MEMBER_STATES, tab="main")


@pages.route("/programs/<program_id>/settings", methods=["POST"])
@require_admin
def program_settings(program_id):
    changes = {}
    for key in ("name", "tagline", "banner_url"):
        if key in request.form:
            changes[key] = request.form[key].strip() or (None if key != "name" else "")
    if "enrollment_limit" in request.form:
        raw = request.form["enrollment_limit"].strip()
        changes["enrollment_limit"] = int(raw) if raw.isdigit() else None
    try:
        api("PATCH", f"/v1/programs/{program_id}", json=changes)
        flash("Program settings saved.")
    except ApiError as exc:
        details = exc.field_errors()
        flash("; ".join(f"{k}: {' '.join(v)}" for k, v in details.items()) or message_of(exc), "error")
    return redirect(url_for("admin.program", program_id=program_id) + "#settings")


@pages.route("/programs/<program_id>/members/<user_id>/remove", methods=["GET", "POST"])
@require_admin
def remove_member(program_id, user_id):
    prog = program_of(program_id)
    if request.method == "GET":
        return render_template("admin/member_remove.html", program=prog, user_id=user_id,
                               name=request.args.get("name", ""), tab="main")
    attempt(lambda: api("DELETE", f"/v1/programs/{program_id}/members/{user_id}"),
            "The member was removed: their license is free again and their courses are audit-only.")
    return redirect(url_for("admin.program", program_id=program_id))


PROFILE_FIELDS = {"full_name": "Full name", "external_id": "External ID", "job_title": "Job title",
                  "job_type": "Job type", "manager_name": "Manager's name", "manager_email": "Manager's email",
                  "business_unit": "Business unit", "business_unit_2": "Business unit 2",
                  "location_city": "Location city", "location_country": "Location country",
                  "location_region": "Location region"}


def profile_form(user_id: str, person: dict, saved_url: str):
    """A person's profile form: (values, errors, a redirect when it is done). On POST the changed fields are
    sent as one PATCH; the API's refusals come back next to their fields."""
    if request.method != "POST":
        return person, {}, None
    values = {k: request.form.get(k, "").strip() for k in PROFILE_FIELDS}
    changes = {k: (v or None) for k, v in values.items() if (v or None) != person.get(k)}
    if "full_name" in changes and not changes["full_name"]:
        return values, {"full_name": ["Enter the person's name."]}, None
    if not changes:
        flash("Nothing changed.")
        return values, {}, redirect(saved_url)
    try:
        api("PATCH", f"/v1/orgs/{org_id()}/people/{user_id}", json=changes)
    except ApiError as exc:
        return values, exc.field_errors() or {"_schema": [message_of(exc)]}, None
    flash(f"The profile of {values['full_name']} is saved.")
    return values, {}, redirect(saved_url)


@pages.route("/programs/<program_id>/members/<user_id>", methods=["GET", "POST"])
@require_admin
def member(program_id, user_id):
    """A member's organization profile (the report columns), changed by an admin in scope."""
    prog = program_of(program_id)
    person = api("GET", f"/v1/orgs/{org_id()}/people/{user_id}")
    values, errors, done = profile_form(
        user_id, person, url_for("admin.program", program_id=program_id) + "#members-title")
    if done:
        return done
    return render_template("admin/member.html", program=prog, person=person, values=values, errors=errors,
                           fields=PROFILE_FIELDS, tab="main"), 400 if errors else 200


# ---- curriculum


@pages.route("/programs/<program_id>/collections", methods=["POST"])
@require_admin
def add_collection(program_id):
    body = {"name": request.form.get("name", "").strip()}
    if request.form.get("description", "").strip():
        body["description"] = request.form["description"].strip()
    attempt(lambda: api("POST", f"/v1/programs/{program_id}/collections", json=body),
            f"Collection “{body['name']}” added.",
            {"DUPLICATE_NAME": "A collection with this name exists in this program."}, details=True)
    return redirect(url_for("admin.program", program_id=program_id) + "#curriculum")


@pages.route("/programs/<program_id>/collections/<collection_id>/<action>", methods=["POST"])
@require_admin
def collection_action(program_id, collection_id, action):
    collections = api("GET", f"/v1/programs/{program_id}/collections")
    collection = next((c for c in collections if c["id"] == collection_id), None)
    if collection is None:
        abort(404)
    try:
        if action == "delete":
            api("DELETE", f"/v1/collections/{collection_id}")
            flash(f"Collection “{collection['name']}” removed.")
        elif action in ("up", "down"):
            position = collection["position"] + (-1 if action == "up" else 1)
            api("PATCH", f"/v1/collections/{collection_id}", json={"position": max(position, 0)})
        elif action in ("item-up", "item-down", "item-remove"):
            item_id = request.form.get("item_id", "")
            ids = [i["id"] for i in collection["items"]]
            if item_id not in ids:
                abort(404)
            if action == "item-remove":
                api("DELETE", f"/v1/collections/{collection_id}/items/{item_id}")
                flash("Removed from the collection.")
            else:
                at = ids.index(item_id)
                to = at - 1 if action == "item-up" else at + 1
                if 0 <= to < len(ids):
                    ids[at], ids[to] = ids[to], ids[at]
                    api("PATCH", f"/v1/collections/{collection_id}", json={"item_ids": ids})
        else:
            abort(404)
    except ApiError as exc:
        flash(message_of(exc) + field_summary(exc), "error")
    return redirect(url_for("admin.program", program_id=program_id) + f"#c-{collection_id}")


@pages.route("/programs/<program_id>/collections/<collection_id>/add", methods=["GET", "POST"])
@require_admin
def add_items(program_id, collection_id):
    prog = program_of(program_id)
    collections = api("GET", f"/v1/programs/{program_id}/collections")
    collection = next((c for c in collections if c["id"] == collection_id), None)
    if collection is None:
        abort(404)
    if request.method == "POST":
        body = {"course_ids": request.form.getlist("course_ids"),
                "specialization_ids": request.form.getlist("specialization_ids")}
        try:
            api("POST", f"/v1/collections/{collection_id}/items", json=body)
            count = len(body["course_ids"]) + len(body["specialization_ids"])
            flash(f"{count} added to “{collection['name']}”.")
            return redirect(url_for("admin.program", program_id=program_id) + f"#c-{collection_id}")
        except ApiError as exc:
            flash("Choose at least one course or specialization." if exc.status == 400 else message_of(exc),
                  "error")
    q = request.args.get("q", "").strip()
    params = {"limit": 25, **({"q": q} if q else {})}
    courses = api("GET", "/v1/catalog/courses", params=params)["items"]
    specializations = api("GET", "/v1/catalog/specializations", params=params)["items"]
    present = {i.get("course_id") or i.get("specialization_id") for i in collection["items"]}
    return render_template("admin/add_items.html", program=prog, collection=collection, q=q, courses=courses,
                           specializations=specializations, present=present, tab="main")


# ---------------------------------------------------------------- a program: Invitations


@pages.route("/programs/<program_id>/invitations", methods=["GET"])
@require_admin
def invitations(program_id):
    prog = program_of(program_id)
    state = request.args.get("state", "PENDING")
    cursor = request.args.get("cursor") or None
    listing = api("GET", f"/v1/programs/{program_id}/invitations",
                  params={"limit": PAGE_SIZE, "state": state, **({"cursor": cursor} if cursor else {})})
    return render_template("admin/invitations.html", program=prog, invitations=listing, state=state,
                           contracts=program_contracts(prog), values={}, tab="invitations")


def program_contracts(prog: dict) -> list[dict]:
    """The program's contracts (their names for org admins; program admins see ids only)."""
    known = {c["id"]: c for c in contracts()}
    return [known.get(cid, {"id": cid, "name": f"Contract {cid[:8]}"}) for cid in prog.get("contract_ids", [])]


def invitation_body(program_id: str) -> dict:
    body = {"program_id": program_id, "contract_id": request.form.get("contract_id", ""),
            "full_name": request.form.get("full_name", "").strip(), "email": request.form.get("email", "").strip()}
    if request.form.get("external_id", "").strip():
        body["external_id"] = request.form["external_id"].strip()
    return body


@pages.route("/programs/<program_id>/invitations/preview", methods=["POST"])
@require_admin
def invitation_preview(program_id):
    prog = program_of(program_id)
    body = invitation_body(program_id)
    try:
        preview = api("POST", "/v1/invitations/preview", json=body)
    except ApiError as exc:
        listing = api("GET", f"/v1/programs/{program_id}/invitations", params={"limit": PAGE_SIZE,
                                                                            "state": "PENDING"})
        return render_template("admin/invitations.html", program=prog, invitations=listing, state="PENDING",
                               contracts=program_contracts(prog), values=body, errors=exc.field_errors(),
                               error=None if exc.field_errors() else message_of(exc),
                               tab="invitations"), status_of(exc)
    return render_template("admin/invitation_preview.html", program=prog, preview=preview, body=body,
                           tab="invitations")


@pages.route("/programs/<program_id>/invitations/create", methods=["POST"])
@require_admin
def invitation_create(program_id):
    body = {**invitation_body(program_id), "send_email": request.form.get("send_email") == "true"}
    attempt(lambda: api("POST", "/v1/invitations", json=body),
            lambda invitation: ("Invitation sent to " if body["send_email"] else "Invitation created (no email) for ")
            + invitation["email"] + ".",
            {"DUPLICATE_INVITATION": "This person already has a pending invitation.",
             "ALREADY_MEMBER": "This person is already a member.",
             "LICENSE_LIMIT_REACHED": "The contract has no free license left."}, details=True)
    return redirect(url_for("admin.invitations", program_id=program_id))


@pages.route("/programs/<program_id>/invitations/bulk", methods=["POST"])
@require_admin
def invitations_bulk(program_id):
    action = request.form.get("action") or ""
    ids = request.form.getlist("invitation_ids")
    verb, _, invitation_id = action.partition(":")
    if action == "resend-all":
        attempt(lambda: api("POST", f"/v1/programs/{program_id}/invitations/resend"),
                lambda done: f"{done.get('resent', 0)} pending invitations sent again.")
    elif action == "revoke-selected" and not ids:
        flash("Choose the invitations to revoke.", "error")
    elif action == "revoke-selected":
        attempt(lambda: api("POST", f"/v1/programs/{program_id}/invitations/revoke", json={"invitation_ids": ids}),
                lambda done: f"{len(done)} invitations revoked.")
    elif verb in ("resend", "revoke") and invitation_id:
        attempt(lambda: api("POST", f"/v1/invitations/{invitation_id}/{verb}"),
                lambda done: ("A new invitation link was sent to " if verb == "resend" else "Invitation revoked for ")
                + done["email"] + ".")
    else:
        abort(400)
    return redirect(url_for("admin.invitations", program_id=program_id))


@pages.route("/programs/<program_id>/invitations/upload", methods=["POST"])
@require_admin
def invitations_upload(program_id):
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("Choose a CSV file to upload.", "error")
        return redirect(url_for("admin.invitations", program_id=program_id) + "#upload")
    form = {"program_id": program_id, "contract_id": request.form.get("contract_id", ""),
            "send_email": "true" if request.form.get("send_email") == "on" else "false"}
    try:
        started = api("POST", "/v1/invitations/imports", data=form,
                      files={"file": (upload.filename, upload.stream, upload.mimetype or "text/csv")})
    except ApiError as exc:
        flash(message_of(exc, {"INVALID_FILE": "This file is not a CSV with the template's columns."})
              + field_summary(exc), "error")
        return redirect(url_for("admin.invitations", program_id=program_id) + "#upload")
    return redirect(url_for("admin.import_progress", program_id=program_id, import_id=started["import_id"]))


@pages.route("/programs/<program_id>/imports/<import_id>")
@require_admin
def import_progress(program_id, import_id):
    prog = program_of(program_id)
    job = api("GET", f"/v1/invitations/imports/{import_id}")
    if request.headers.get("HX-Request"):
        return render_template("admin/_import_progress.html", program=prog, job=job)
    return render_template("admin/import.html", program=prog, job=job, tab="invitations")


@pages.route("/invitations/template.csv")
@require_admin
def template_csv():
    return passthrough(api_raw("GET", "/v1/invitations/template.csv", stream=True))


@pages.route("/imports/<import_id>/rejected.csv")
@require_admin
def rejected_csv(import_id):
    return passthrough(api_raw("GET", f"/v1/invitations/imports/{import_id}/rejected.csv", stream=True))


def passthrough(upstream) -> Response:
    """Stream a file answer of the API (CSV) as it comes."""
    headers = {k: v for k, v in upstream.headers.items() if k.lower() in ("content-type", "content-disposition")}
    return Response(upstream.iter_content(64 * 1024), headers=headers, direct_passthrough=True)


# ---------------------------------------------------------------- a program: Messaging


def audience_of(source, program_id: str) -> dict:
    """The audience a compose form (or the count's query) describes: a preset narrowed by filters, always
    within this program (the guide's filters: current enrollments, contracts; CUSTOM: the people chosen in
    the members list; INACTIVE_FOR_DAYS: its number of days)."""
    preset = source.get("preset") or "ALL_MEMBERS"
    filters = {"program_ids": [program_id]}
    for key in ("contract_ids", "course_ids"):
        chosen = [v for v in source.getlist(key) if v]
        if chosen:
            filters[key] = chosen
    audience = {"preset": preset, "filters": filters}
    if preset == "CUSTOM":
        audience["user_ids"] = [v for v in source.getlist("user_ids") if v]
    if preset == "INACTIVE_FOR_DAYS":
        days = source.get("days", "").strip()
        audience["days"] = int(days) if days.isdigit() else days or None  # the API explains a bad value
    return audience


def message_body(program_id: str) -> dict:
    form = request.form
    body = {"audience": audience_of(form, program_id), "subject": form.get("subject", "").strip(),
            "content": form.get("content", ""), "reply_to": form.get("reply_to") == "on"}
    if form.get("sender_name", "").strip():
        body["sender_name"] = form["sender_name"].strip()
    if form.get("cta_label", "").strip() or form.get("cta_url", "").strip():
        body["cta"] = {"label": form.get("cta_label", "").strip(), "url": form.get("cta_url", "").strip()}
    return body


def program_courses(program_id: str) -> list[dict]:
    """The courses of a program's curriculum, once each (filters, gradebooks)."""
    courses, seen = [], set()
    for collection in api("GET", f"/v1/programs/{program_id}/collections"):
        for item in collection["items"]:
            if item.get("course_id") and item["course_id"] not in seen:
                seen.add(item["course_id"])
                courses.append(item)
    return courses


def audience_field_errors(exc: ApiError) -> dict:
    """The API's field names (audience.filters.course_ids, audience.days, cta.url) as the form's."""
    out = {}
    for key, value in exc.field_errors().items():
        name = key.rsplit(".", 1)[-1] if key.startswith("audience.") else key.replace("cta.", "cta_")
        out.setdefault(name, []).extend(value)
    return out


@pages.route("/programs/<program_id>/messages", methods=["GET", "POST"])
@require_admin
def messages(program_id):
    prog = program_of(program_id)
    presets = [p for p in api("GET", "/v1/messages/presets") if p.get("available", True)]
    sent = [m for m in api("GET", f"/v1/orgs/{org_id()}/messages", params={"limit": 100})["items"]
            if program_id in ((m.get("audience") or {}).get("filters") or {}).get("program_ids", [])]
    chosen = [u for u in request.args.getlist("user_ids") if u][:1000]  # "Message the selected" (members list)
    values = {"preset": "CUSTOM" if chosen else "ALL_MEMBERS", "reply_to": True, "user_ids": chosen,
              "contract_ids": [], "course_ids": [], "days": "30"}
    errors, error = {}, None
    if request.method == "POST":
        body = message_body(program_id)
        audience = body["audience"]
        values = {**body, "preset": audience["preset"], "cta_label": request.form.get("cta_label", ""),
                  "cta_url": request.form.get("cta_url", ""), "user_ids": audience.get("user_ids", []),
                  "contract_ids": audience["filters"].get("contract_ids", []),
                  "course_ids": audience["filters"].get("course_ids", []), "days": request.form.get("days", "")}
        try:
            draft = api("POST", f"/v1/orgs/{org_id()}/messages", json=body)
            return redirect(url_for("admin.message", program_id=program_id, message_id=draft["id"]))
        except ApiError as exc:
            errors = audience_field_errors(exc)
            error = None if errors else message_of(exc)
    return render_template("admin/messages.html", program=prog, presets=presets, sent=sent, values=values,
                           errors=errors, error=error, tab="messages",
                           contracts=[(c["id"], f"License from {c['name']}") for c in program_contracts(prog)],
                           courses=[(c["course_id"], f"Enrolled in {c['name']}")
                                    for c in program_courses(program_id)]), \
        400 if errors or error else 200


@pages.route("/programs/<program_id>/audience-count")
@require_admin
def audience_count(program_id):
    """The audience count of the compose form's choices (htmx fragment, and a plain page without JavaScript)."""
    try:
        count = api("POST", f"/v1/orgs/{org_id()}/audience", json=audience_of(request.args, program_id))["count"]
        text = f"{count} {'person' if count == 1 else 'people'} will receive this message."
    except ApiError as exc:
        errors = audience_field_errors(exc)
        text = "; ".join(" ".join(v) for v in errors.values()) if errors else message_of(exc)
        text = f"No count yet: {text}"
    return render_template("admin/_audience.html", text=text)


@pages.route("/programs/<program_id>/messages/<message_id>", methods=["GET", "POST"])
@require_admin
def message(program_id, message_id):
    prog = program_of(program_id)
    msg = api("GET", f"/v1/messages/{message_id}")
    error = None
    if request.method == "POST":
        action = request.form.get("step")  # not "action": a control named so shadows form.action in the DOM
        try:
            if action == "send":
                if request.form.get("accept_terms") != "on":
                    raise ApiError(422, "TERMS_NOT_ACCEPTED", "Accept the terms before sending.")
                api("POST", f"/v1/messages/{message_id}/send", json={"accept_terms": True})
                flash("Your message is being sent.")
                return redirect(url_for("admin.message", program_id=program_id, message_id=message_id))
            if action == "discard":
                api("DELETE", f"/v1/messages/{message_id}")
                flash("Draft discarded.")
                return redirect(url_for("admin.messages", program_id=program_id))
            abort(400)
        except ApiError as exc:
            error = message_of(exc, {"TERMS_NOT_ACCEPTED": "Accept the terms before sending.",
                                     "TOO_MANY_REQUESTS": "Your organization has reached today's message quota."})
    preview = api("POST", f"/v1/messages/{message_id}/preview") if msg["state"] == "DRAFT" else None
    count = None
    if msg["state"] == "DRAFT":
        try:
            count = api("POST", f"/v1/orgs/{org_id()}/audience", json={
                k: v for k, v in msg["audience"].items() if v is not None})["count"]
        except ApiError:
            count = None
    return render_template("admin/message.html", program=prog, message=msg, preview=preview, count=count,
                           error=error, tab="messages"), 422 if error else 200


@pages.route("/programs/<program_id>/messages/<message_id>/preview.html")
@require_admin
def message_preview_html(program_id, message_id):
    """The email's HTML as sent, shown in a sandboxed frame of the message page."""
    preview = api("POST", f"/v1/messages/{message_id}/preview")
    response = Response(preview["html"], mimetype="text/html")
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src https: data:; " \
                                                  "style-src 'unsafe-inline'; frame-ancestors 'self'"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@pages.route("/programs/<program_id>/remind-enroll", methods=["POST"])
@require_admin
def remind_enroll(program_id):
    attempt(lambda: api("POST", f"/v1/programs/{program_id}/remind-enroll"),
            lambda done: f"Reminder queued for {done.get('queued', 0)} members who have not enrolled.",
            {"TOO_MANY_REQUESTS": "A reminder was already sent today."})
    return redirect(safe_next(request.form.get("back"), url_for("admin.home")))


# ---------------------------------------------------------------- a program: Remove


@pages.route("/programs/<program_id>/remove", methods=["GET", "POST"])
@require_admin
def remove_program(program_id):
    prog = program_of(program_id)
    if request.method == "GET":
        return render_template("admin/program_remove.html", program=prog, tab="remove")
    if request.form.get("confirm_name", "").strip() != prog["name"]:
        return render_template("admin/program_remove.html", program=prog, tab="remove",
                               errors={"confirm_name": ["Type the program's name exactly to confirm."]}), 400
    try:
        done = api("DELETE", f"/v1/programs/{program_id}", params={"confirm": "true"})
    except ApiError as exc:
        return render_template("admin/program_remove.html", program=prog, tab="remove",
                               error=message_of(exc)), status_of(exc)
    flash(f"Program “{prog['name']}” removed with its {done.get('removed_members', 0)} members.")
    return redirect(url_for("admin.home"))
