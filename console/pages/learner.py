"""A learner's pages: my programs, a program's curriculum with enroll buttons,
email preferences."""
from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from console.gateway import ApiError
from console.pages.common import message_of
from console.web import api, require_sign_in

pages = Blueprint("learner", __name__)


@pages.route("/learn")
@require_sign_in
def my_programs():
    programs = api("GET", "/v1/me/programs", params={"limit": 200})["items"]
    enrollments = api("GET", "/v1/me/enrollments", params={"limit": 200})["items"]
    return render_template("learner/my_programs.html", programs=programs, enrollments=enrollments)


@pages.route("/learn/programs/<program_id>")
@require_sign_in
def program(program_id):
    curriculum = api("GET", f"/v1/me/programs/{program_id}/curriculum")
    session["brand"] = curriculum.get("organization")
    mine = next((p for p in api("GET", "/v1/me/programs", params={"limit": 200})["items"]
                 if p["id"] == program_id), {})
    enrollments = [e for e in api("GET", "/v1/me/enrollments", params={"limit": 200})["items"]
                   if e["program_id"] == program_id and not e.get("downgraded_at")]
    enrolled = {e.get("course_id") or e.get("specialization_id") for e in enrollments}
    limit = mine.get("enrollment_limit")
    return render_template("learner/program.html", curriculum=curriculum, program=curriculum["program"],
                           membership=mine, enrolled=enrolled, enrollments=enrollments,
                           limit_reached=limit is not None and len(enrollments) >= limit)


@pages.route("/learn/programs/<program_id>/enroll", methods=["POST"])
@require_sign_in
def enroll(program_id):
    kind = request.form.get("kind")
    item_id = request.form.get("item_id", "")
    body = {"program_id": program_id, "course_id" if kind == "COURSE" else "specialization_id": item_id}
    if request.form.get("collection_id"):
        body["collection_id"] = request.form["collection_id"]
    try:
        enrollment = api("POST", "/v1/enrollments", json=body)
        flash(f"You are enrolled in {enrollment.get('item_name')}.")
    except ApiError as exc:
        flash(message_of(exc, {
            "ENROLLMENT_LIMIT_REACHED": "You have reached this program's enrollment limit: you cannot enroll in "
                                        "more courses here.",
            "NOT_IN_CURRICULUM": "This course is no longer in the program's curriculum.",
            "NOT_A_MEMBER": "You are not a member of this program."}), "error")
    return redirect(url_for("learner.program", program_id=program_id))


@pages.route("/account/email-preferences", methods=["GET", "POST"])
@require_sign_in
def email_preferences():
    if request.method == "POST":
        prefs = {"program_messages": request.form.get("program_messages") == "on",
                 "course_announcements": request.form.get("course_announcements") == "on"}
        api("PUT", "/v1/me/email-preferences", json=prefs)
        flash("Your email preferences are saved.")
        return redirect(url_for("learner.email_preferences"))
    return render_template("learner/email_preferences.html", prefs=api("GET", "/v1/me/email-preferences"))
