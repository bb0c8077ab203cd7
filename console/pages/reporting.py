"""Reporting: the organization's figures, download a report now (streamed from the API as it comes),
email me the link, the schedule (shown here, set in the organization settings), gradebooks per course;
and the emailed report link itself."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from console.gateway import ApiError
from console.pages.admin import optional_api, passthrough, program_courses
from console.pages.common import message_of
from console.web import api, api_raw, gateway, org_id, require_admin

pages = Blueprint("reporting", __name__)
REPORTS = {"usage": "Usage: one row per course enrollment",
           "membership": "Membership: one row per person per program",
           "specialization": "Specialization: one row per specialization enrollment"}
GRADEBOOKS = {"gradebook": "Gradebook: best score per graded item", "assessment_attempts": "Every graded attempt"}


def schedule_text(schedule: dict | None, timezone: str | None) -> str:
    """The report schedule in words ("Every week on Monday at 06:00 UTC: usage, membership")."""
    if not schedule or schedule.get("frequency", "NONE") == "NONE":
        return "No scheduled reports."
    when = {"DAILY": "Every day", "WEEKLY": f"Every week on {(schedule.get('weekday') or 'MONDAY').capitalize()}",
            "MONTHLY": f"Every month on day {schedule.get('day_of_month') or 1}"}[schedule["frequency"]]
    reports = ", ".join(schedule.get("reports") or [])
    hour = schedule.get("hour")
    return f"{when} at {6 if hour is None else int(hour):02d}:00 {timezone or 'UTC'}: {reports}."


@pages.route("/admin/reports", methods=["GET", "POST"])
@require_admin
def reports():
    programs = api("GET", f"/v1/orgs/{org_id()}/programs", params={"limit": 200})["items"]
    if request.method == "POST":
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
    courses = program_courses(program_id) if program else []
    summary = optional_api("GET", f"/v1/orgs/{org_id()}/summary")
    org = optional_api("GET", f"/v1/orgs/{org_id()}") or {}
    return render_template("reporting/reports.html", programs=programs, program=program, courses=courses,
                           reports=REPORTS, gradebooks=GRADEBOOKS, summary=summary,
                           schedule=schedule_text(org.get("report_schedule"), org.get("timezone")))


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
