"""Reporting: download a report now (streamed from the API as it comes), email me the link, the
schedule (organization settings), gradebooks per course; and the emailed report link itself.

The report routes (`/v1/orgs/{org_id}/reports/...`, gradebooks, `/v1/reports/download/{token}`) are
the `reports` work of issue 13: until the gateway serves them, the page says so instead of failing."""
import time

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from console.gateway import ApiError
from console.pages.admin import passthrough
from console.pages.auth import message_of
from console.web import api, api_raw, gateway, org_id, require_admin

pages = Blueprint("reporting", __name__)
REPORTS = {"usage": "Usage: one row per course enrollment",
           "membership": "Membership: one row per person per program",
           "specialization": "Specialization: one row per specialization enrollment"}
GRADEBOOKS = {"gradebook": "Gradebook: best score per graded item", "assessment_attempts": "Every graded attempt"}


_AVAILABLE: dict[str, tuple[float, bool]] = {}


def reports_available() -> bool:
    """Whether this gateway serves the report routes (its OpenAPI document lists them; asked once a minute)."""
    known = _AVAILABLE.get("reports")
    if known and known[0] > time.monotonic():
        return known[1]
    try:
        document = gateway().call("GET", "/v1/openapi.json")
        available = "/v1/orgs/{org_id}/reports/email" in document.get("paths", {})
    except ApiError:
        available = False
    _AVAILABLE["reports"] = (time.monotonic() + 60, available)
    return available


@pages.route("/admin/reports", methods=["GET", "POST"])
@require_admin
def reports():
    programs = api("GET", f"/v1/orgs/{org_id()}/programs", params={"limit": 200})["items"]
    available = reports_available()
    if request.method == "POST" and available:
        body = {"report": request.form.get("report", "usage")}
        if request.form.get("program_id"):
            body["program_id"] = request.form["program_id"]
        try:
            sent = api("POST", f"/v1/orgs/{org_id()}/reports/email", json=body)
            until = sent["expires_at"][:16].replace("T", " ")
            flash(f"We emailed a link to {sent['email']}: it works until {until} UTC.")
        except ApiError as exc:
            flash(message_of(exc), "error")
        return redirect(url_for("reporting.reports"))
    program_id = request.args.get("program_id", "")
    program = next((p for p in programs if p["id"] == program_id), None)
    courses = []
    if program:
        collections = api("GET", f"/v1/programs/{program_id}/collections")
        seen = set()
        for collection in collections:
            for item in collection["items"]:
                if item.get("course_id") and item["course_id"] not in seen:
                    seen.add(item["course_id"])
                    courses.append(item)
    return render_template("reporting/reports.html", programs=programs, program=program, courses=courses,
                           reports=REPORTS, gradebooks=GRADEBOOKS, available=available)


@pages.route("/admin/reports/<report>.csv")
@require_admin
def download(report):
    if report not in REPORTS:
        abort(404)
    params = {"program_id": request.args["program_id"]} if request.args.get("program_id") else None
    return passthrough(api_raw("GET", f"/v1/orgs/{org_id()}/reports/{report}.csv", params=params, stream=True))


@pages.route("/admin/programs/<program_id>/courses/<course_id>/<report>.csv")
@require_admin
def gradebook(program_id, course_id, report):
    if report not in GRADEBOOKS:
        abort(404)
    return passthrough(api_raw("GET", f"/v1/programs/{program_id}/courses/{course_id}/gradebook/{report}.csv",
                               stream=True))


@pages.route("/v1/reports/download/<token>")
def emailed_link(token):
    """The emailed report link (PUBLIC_URL is the console): the file, streamed from the API."""
    try:
        return passthrough(gateway().raw("GET", f"/v1/reports/download/{token}", stream=True,
                                         client_ip=request.remote_addr))
    except ApiError as exc:
        if exc.status in (404, 410):
            return render_template("reporting/link_gone.html", expired=exc.status == 410), exc.status
        raise
