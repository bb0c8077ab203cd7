"""Settings (org admins): the organization's branding and profile, report schedule,
administrators, API tokens (the secret shown once), contracts; and the API reference."""
import json

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, session, url_for

from console.gateway import ApiError
from console.pages.admin import contracts
from console.pages.common import attempt, message_of
from console.web import api, csrf_exempt, gateway, org_id, require_admin, require_org_admin

pages = Blueprint("settings", __name__, url_prefix="/admin/settings")
COMPANY_SIZES = ("1-50", "51-200", "201-1000", "1001-5000", "5001-10000", "10000+")
REGIONS = {"NORTH_AMERICA": "North America", "LATIN_AMERICA": "Latin America", "EUROPE": "Europe",
           "MIDDLE_EAST_AFRICA": "Middle East and Africa", "ASIA_PACIFIC": "Asia Pacific"}
FREQUENCIES = {"NONE": "No scheduled reports", "DAILY": "Every day", "WEEKLY": "Every week",
               "MONTHLY": "Every month"}
WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
REPORTS = {"usage": "Usage", "membership": "Membership", "specialization": "Specialization"}
SCOPES = {
    "org:read": "the organization's settings",
    "people:read": "people's organization profiles and the list of admins",
    "programs:read": "catalog, contracts, programs, their members and curricula",
    "invitations:read": "invitations of programs, bulk imports and their rejected rows",
    "messages:read": "admin messages and their delivery counts",
    "activity:write": "learning activity (the reporting service)",
    "reports:read": "reports (the reporting service)",
    "people:write": "people provisioning (identity provider sync)",
    "scim": "SCIM 2.0 provisioning by your identity provider (Provisioning tab)",
}
TABS = [("settings.organization", "Organization"), ("settings.administrators", "Administrators"),
        ("settings.api_tokens", "API tokens"), ("settings.contracts", "Contracts"),
        ("sso.settings", "Single sign-on"), ("scim.settings", "Provisioning (SCIM)")]  # pages/sso.py, pages/scim.py


def remember_brand(org: dict) -> None:
    session["brand"] = {k: org.get(k) for k in ("name", "brand_color", "logo_url")}


def row_action(verb: str, collection: str, done: str, endpoint: str):
    """A row's button of a settings table (action `<verb>:<id>`): DELETE the organization's
    /<collection>/<id>, say what happened, back to the page. None for any other button."""
    action = request.form.get("action", "")
    if not action.startswith(verb + ":"):
        return None
    attempt(lambda: api("DELETE", f"/v1/orgs/{org_id()}/{collection}/{action.partition(':')[2]}"), done)
    return redirect(url_for(endpoint))


@pages.route("/", methods=["GET", "POST"])
@require_org_admin
def organization():
    org = api("GET", f"/v1/orgs/{org_id()}")
    errors, error = {}, None
    if request.method == "POST":
        form = request.form
        changes = {"name": form.get("name", "").strip()}
        for key in ("brand_color", "logo_url", "banner_url", "industry", "company_size", "region",
                    "subscription_start"):
            changes[key] = form.get(key, "").strip() or None
        changes["default_invitation_message"] = form.get("default_invitation_message", "").strip() or None
        if form.get("timezone", "").strip():
            changes["timezone"] = form["timezone"].strip()
        frequency = form.get("frequency", "NONE")
        schedule = {"frequency": frequency, "reports": form.getlist("reports") or ["usage"]}
        if form.get("hour", "").isdigit():
            schedule["hour"] = int(form["hour"])
        if frequency == "WEEKLY":
            schedule["weekday"] = form.get("weekday") or "MONDAY"
        if frequency == "MONTHLY" and form.get("day_of_month", "").isdigit():
            schedule["day_of_month"] = int(form["day_of_month"])
        changes["report_schedule"] = schedule
        try:
            org = api("PATCH", f"/v1/orgs/{org_id()}", json=changes)
            remember_brand(org)
            flash("Organization settings saved.")
            return redirect(url_for("settings.organization"))
        except ApiError as exc:
            errors = {key.replace("report_schedule.", ""): value for key, value in exc.field_errors().items()}
            error = None if errors else message_of(exc)
            org = {**org, **changes}
    return render_template("settings/organization.html", org=org, errors=errors, error=error,
                           sizes=COMPANY_SIZES, regions=REGIONS, frequencies=FREQUENCIES, weekdays=WEEKDAYS,
                           reports=REPORTS, tabs=TABS, tab="settings.organization"), 400 if errors or error else 200


@pages.route("/administrators", methods=["GET", "POST"])
@require_org_admin
def administrators():
    programs = api("GET", f"/v1/orgs/{org_id()}/programs", params={"limit": 200})["items"]
    values, errors, error = {"role": "PROGRAM_ADMIN", "program_ids": []}, {}, None
    if request.method == "POST":
        removed = row_action("remove", "admins", "The administrator role was removed.", "settings.administrators")
        if removed:
            return removed
        values = {"email": request.form.get("email", "").strip(),
                  "full_name": request.form.get("full_name", "").strip(),
                  "role": request.form.get("role", "PROGRAM_ADMIN"), "program_ids": request.form.getlist("program_ids")}
        body = {**values}
        if body["role"] == "ORG_ADMIN":
            body.pop("program_ids")
        try:
            added = api("POST", f"/v1/orgs/{org_id()}/admins", json=body)
            flash(f"{added['email']} is now an administrator. A new account gets an email to set its password.")
            return redirect(url_for("settings.administrators"))
        except ApiError as exc:
            errors = exc.field_errors()
            error = None if errors else message_of(exc, {"ALREADY_ADMIN": "This person is already an administrator "
                                                                          "with this role."})
    admins = api("GET", f"/v1/orgs/{org_id()}/admins")
    names = {p["id"]: p["name"] for p in programs}
    return render_template("settings/administrators.html", admins=admins, programs=programs, names=names,
                           values=values, errors=errors, error=error, tabs=TABS, tab="settings.administrators"), \
        400 if errors or error else 200


@pages.route("/api-tokens", methods=["GET", "POST"])
@require_org_admin
def api_tokens():
    created, errors, error = None, {}, None
    values = {"name": "", "scopes": []}
    if request.method == "POST":
        revoked = row_action("revoke", "api-tokens", "The token is revoked: it no longer opens anything.",
                             "settings.api_tokens")
        if revoked:
            return revoked
        values = {"name": request.form.get("name", "").strip(), "scopes": request.form.getlist("scopes")}
        try:
            created = api("POST", f"/v1/orgs/{org_id()}/api-tokens", json=values)
            values = {"name": "", "scopes": []}
        except ApiError as exc:
            errors = exc.field_errors()
            if "scopes" in errors:
                errors["scopes"] = ["Choose at least one scope."]
            error = None if errors else message_of(exc)
    tokens = api("GET", f"/v1/orgs/{org_id()}/api-tokens")
    return render_template("settings/api_tokens.html", tokens=tokens, created=created,
                           scopes=[(key, key, text) for key, text in SCOPES.items()],
                           values=values, errors=errors, error=error, tabs=TABS, tab="settings.api_tokens"), \
        400 if errors or error else 201 if created else 200


@pages.route("/contracts", endpoint="contracts")
@require_org_admin
def contracts_page():
    return render_template("settings/contracts.html", contracts=contracts(), tabs=TABS, tab="settings.contracts")


CONTRACT_FIELDS = ("name", "license_count", "starts_on", "ends_on")


def contract_form() -> tuple[dict, dict, dict]:
    """(the form's values, the API body, errors found before asking the API) of a contract form."""
    values = {k: request.form.get(k, "").strip() for k in CONTRACT_FIELDS}
    body, errors = dict(values), {}
    try:
        body["license_count"] = int(values["license_count"])
    except ValueError:
        errors["license_count"] = ["Enter a whole number of licenses."]
    return values, body, errors


CONTRACT_MESSAGES = {"DUPLICATE_NAME": "A contract with this name exists.",
                     "LICENSES_IN_USE": "More licenses are in use than this: remove members first or keep more."}


def contract_errors(exc: ApiError) -> dict:
    if exc.code == "LICENSES_IN_USE":
        return {"license_count": [CONTRACT_MESSAGES["LICENSES_IN_USE"]]}
    return exc.field_errors() or {"name": [message_of(exc, CONTRACT_MESSAGES)]}


@pages.route("/contracts/<contract_id>", methods=["GET", "POST"])
@require_org_admin
def contract(contract_id):
    """Change a contract: name, licenses (not below those in use), dates. Another organization's: 404."""
    current = api("GET", f"/v1/contracts/{contract_id}")
    if request.method == "GET":
        values = {k: current.get(k) for k in CONTRACT_FIELDS}
        return render_template("settings/contract.html", contract=current, values=values, tabs=TABS,
                               tab="settings.contracts")
    values, body, errors = contract_form()
    changes = {k: v for k, v in body.items() if str(v) != str(current.get(k))}
    if not errors and changes:
        try:
            changed = api("PATCH", f"/v1/contracts/{contract_id}", json=changes)
        except ApiError as exc:
            errors = contract_errors(exc)
        else:
            flash(f"Contract “{changed['name']}” saved: {changed['license_count']} licenses, "
                  f"{changed['starts_on']} to {changed['ends_on']}.")
            return redirect(url_for("settings.contracts"))
    elif not errors:
        flash("Nothing changed.")
        return redirect(url_for("settings.contracts"))
    return render_template("settings/contract.html", contract=current, values=values, errors=errors, tabs=TABS,
                           tab="settings.contracts"), 400


# ---------------------------------------------------------------- the API reference


@pages.route("/api-reference")
@require_admin
def api_reference():
    return render_template("settings/api_reference.html")


@pages.route("/api-reference/openapi.json")
@require_admin
def openapi_document():
    """The gateway's OpenAPI document, with the console's pass-through as its server so that
    "Try it out" works from this page (same origin) with an API token or access token."""
    document = gateway().call("GET", "/v1/openapi.json")
    document["servers"] = [{"url": url_for("settings.api_reference") + "/try",
                            "description": "this console, passing calls through to the gateway"}]
    return Response(json.dumps(document), mimetype="application/json")


@pages.route("/api-reference/try/<path:path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@csrf_exempt  # it never uses the session: the call carries its own bearer token, as any API client's
def try_it(path):
    """Pass an API call made from the reference page to the gateway: the caller's own Authorization
    header, body and query; no cookie or session is used or forwarded."""
    if not path.startswith("v1/") and path not in ("healthz", "readyz"):
        return Response('{"error": {"code": "NOT_FOUND", "message": "not an API path"}}', 404,
                        mimetype="application/json")
    headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type", "accept")}
    try:
        upstream = gateway().http.request(request.method, f"{gateway().base_url}/{path}",
                                          params=request.args, data=request.get_data(), headers=headers,
                                          timeout=current_app.extensions["console_settings"].api_timeout,
                                          allow_redirects=False)
    except Exception:
        return Response('{"error": {"code": "SERVICE_UNAVAILABLE", "message": "the gateway did not answer"}}',
                        503, mimetype="application/json")
    keep = {k: v for k, v in upstream.headers.items()
            if k.lower() in ("content-type", "content-disposition", "x-request-id", "retry-after")}
    return Response(upstream.content, upstream.status_code, headers=keep)
