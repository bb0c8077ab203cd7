"""Signing in and out, and every page a link sent by email opens: reset or set a
first password, verify an email address, accept an invitation, join by program
URL, unsubscribe."""
from urllib.parse import urlencode

from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from console.gateway import ApiError
from console.pages.common import message_of
from console.web import (
    api,
    csrf_exempt,
    end_session,
    home_path,
    public_api,
    require_sign_in,
    safe_next,
    signed_in,
    start_session,
)

pages = Blueprint("auth", __name__)

SIGN_IN_MESSAGES = {
    "INVALID_CREDENTIALS": "The email or password is not right.",
    "EMAIL_NOT_VERIFIED": "Confirm your email address first: we sent you a link when you signed up.",
    "TOO_MANY_REQUESTS": "Too many attempts. Wait a few minutes and try again.",
    "SSO_REQUIRED": "Your organization signs you in with your company account: use “Sign in with your company "
                    "account”.",
}


@pages.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    target = safe_next(request.values.get("next"), "")
    if request.method == "GET":
        if signed_in():
            return redirect(target or home_path())
        return render_template("auth/sign_in.html", next=target, email=request.args.get("email", ""))
    email = request.form.get("email", "").strip()
    try:
        tokens = public_api("POST", "/v1/auth/login",
                            json={"email": email, "password": request.form.get("password", "")})
        start_session(tokens)
    except ApiError as exc:
        errors = exc.field_errors()
        return render_template("auth/sign_in.html", next=target, email=email, errors=errors,
                               error=None if errors else message_of(exc, SIGN_IN_MESSAGES)), \
            exc.status if exc.status < 500 else 503
    return redirect(target or home_path())


@pages.route("/sign-out", methods=["POST"])
def sign_out():
    end_session()
    flash("You are signed out.")
    return redirect(url_for("auth.sign_in"))


@pages.route("/sign-up", methods=["GET", "POST"])
def sign_up():
    values = {k: request.form.get(k, "").strip() for k in ("email", "full_name")}
    if request.method == "GET":
        return render_template("auth/sign_up.html", values=values, next=safe_next(request.args.get("next"), ""))
    try:
        public_api("POST", "/v1/auth/signup", json={**values, "password": request.form.get("password", "")})
    except ApiError as exc:
        return render_template("auth/sign_up.html", values=values, errors=exc.field_errors(),
                               error=message_of(exc, {"EMAIL_TAKEN": "An account with this email exists: sign in."}),
                               next=safe_next(request.form.get("next"), "")), exc.status if exc.status < 500 else 503
    return render_template("auth/done.html", title="Check your email",
                           message=f"We sent a link to {values['email']}. Open it to confirm your address, "
                                   "then sign in.")


@pages.route("/forgot-password", methods=["GET", "POST"])
def forgot_password():
    if request.method == "GET":
        return render_template("auth/forgot.html", email="")
    email = request.form.get("email", "").strip()
    try:
        public_api("POST", "/v1/auth/password-reset", json={"email": email})
    except ApiError as exc:
        return render_template("auth/forgot.html", email=email, errors=exc.field_errors(),
                               error=message_of(exc, SIGN_IN_MESSAGES)), exc.status if exc.status < 500 else 503
    return render_template("auth/done.html", title="Check your email",
                           message="If an account uses this address, we sent it a link to choose a new password.")


@pages.route("/reset-password", methods=["GET", "POST"])
def reset_password():
    token = request.values.get("token", "")
    if request.method == "GET":
        return render_template("auth/reset.html", token=token)
    password, again = request.form.get("password", ""), request.form.get("password_again", "")
    if password != again:
        return render_template("auth/reset.html", token=token,
                               errors={"password_again": ["The two passwords are not the same."]}), 400
    try:
        public_api("POST", "/v1/auth/password-reset/confirm", json={"token": token, "password": password})
    except ApiError as exc:
        errors = exc.field_errors()
        return render_template("auth/reset.html", token=token, errors=errors,
                               error=None if errors.keys() <= {"password"} and errors else message_of(
                                   exc, {"TOKEN_INVALID": "This link is not valid or has expired: ask for a new "
                                                          "one.", "TOKEN_EXPIRED": "This link has expired: ask "
                                                                                   "for a new one."})), \
            exc.status if exc.status < 500 else 503
    flash("Your password is set. Sign in with it.")
    return redirect(url_for("auth.sign_in"))


@pages.route("/verify-email", methods=["GET", "POST"])
def verify_email():
    token = request.values.get("token", "")
    if request.method == "GET":  # a link preview or mail scanner must not use the token: the button does
        return render_template("auth/verify.html", token=token)
    try:
        public_api("POST", "/v1/auth/verify-email", json={"token": token})
    except ApiError as exc:
        return render_template("auth/verify.html", token=token, error=message_of(
            exc, {"TOKEN_INVALID": "This link is not valid or has expired.",
                  "TOKEN_EXPIRED": "This link has expired."})), exc.status if exc.status < 500 else 503
    flash("Your email address is confirmed. Sign in to continue.")
    return redirect(url_for("auth.sign_in"))


# ---------------------------------------------------------------- invitations and joining


@pages.route("/invitations/accept", methods=["GET", "POST"])
def accept_invitation():
    token = request.values.get("token", "")
    try:
        invitation = public_api("GET", f"/v1/invitations/by-token/{token}") if token else None
    except ApiError as exc:
        if exc.status in (404, 410):
            return render_template("auth/invitation_gone.html", error=exc), exc.status
        raise
    if invitation is None:
        return render_template("auth/invitation_gone.html", error=None), 404
    session["brand"] = {"name": invitation.get("organization_name"), "brand_color": invitation.get("brand_color"),
                        "logo_url": invitation.get("logo_url")}
    if request.method == "GET":
        return render_template("auth/accept.html", invitation=invitation, token=token, values={})
    body = {"token": token}
    full_name = request.form.get("full_name", "").strip()
    password = request.form.get("password", "")
    if full_name:
        body["full_name"] = full_name
    if password:
        body["password"] = password
    try:
        if signed_in() and not password:
            result = api("POST", "/v1/invitations/accept", json=body)
        else:
            result = public_api("POST", "/v1/invitations/accept", json=body)
        start_session(result)
        session["brand"] = {"name": invitation.get("organization_name"),
                            "brand_color": invitation.get("brand_color"), "logo_url": invitation.get("logo_url")}
    except ApiError as exc:
        return render_template("auth/accept.html", invitation=invitation, token=token,
                               values={"full_name": full_name}, errors=exc.field_errors(), error=message_of(exc, {
                                   "INVALID_CREDENTIALS": "You already have an account: enter its password (or sign "
                                                          "in first) to accept.",
                                   "INVITATION_USED": "This invitation was already accepted: sign in.",
                                   "INVITATION_EXPIRED": "This invitation has expired: ask your administrator for "
                                                         "a new one.",
                                   "INVITATION_REVOKED": "This invitation was withdrawn.",
                                   "LICENSE_LIMIT_REACHED": "The program has no free place left: contact your "
                                                            "administrator."})), exc.status if exc.status < 500 else 503
    flash(f"Welcome to {invitation.get('program_name')}.")
    return redirect(url_for("learner.program", program_id=result["program_id"]))


@pages.route("/programs/<slug>", methods=["GET", "POST"])
@require_sign_in
def join_program(slug):
    """The program's join link (also the emails' "Open the program"): a member goes straight to the program."""
    if request.method == "GET":
        mine = api("GET", "/v1/me/programs", params={"limit": 200})["items"]
        member = next((p for p in mine if p["slug"] == slug and p["state"] == "MEMBER"), None)
        if member:
            return redirect(url_for("learner.program", program_id=member["id"]))
        invited = next((p for p in mine if p["slug"] == slug), None)
        return render_template("auth/join.html", slug=slug, program=invited)
    try:
        joined = api("POST", f"/v1/programs/{slug}/join")
    except ApiError as exc:
        return render_template("auth/join.html", slug=slug, error=message_of(exc, {
            "NOT_INVITED": "You are not invited to this program with a confirmed email address. Ask your "
                           "administrator for an invitation, or confirm your email address first.",
            "NOT_FOUND": "There is no such program.",
            "LICENSE_LIMIT_REACHED": "The program has no free place left: contact your administrator.",
        })), exc.status if exc.status < 500 else 503
    flash("You joined the program.")
    return redirect(url_for("learner.program", program_id=joined["program_id"]))


# ---------------------------------------------------------------- unsubscribe (the link in every email)


@pages.route("/v1/unsubscribe/<token>", methods=["GET"])
def unsubscribe(token):
    """The emailed link: a page with one button (opening the link changes nothing)."""
    try:
        public_api("GET", f"/v1/unsubscribe/{token}")
    except ApiError as exc:
        if exc.status in (400, 404):
            return render_template("auth/unsubscribe.html", token=token, done=None,
                                   error="This unsubscribe link is not valid."), 404
        raise
    return render_template("auth/unsubscribe.html", token=token, done=None)


@pages.route("/v1/unsubscribe/<token>", methods=["POST"])
@csrf_exempt  # the token in the URL is the capability; mail clients POST here (RFC 8058 one-click)
def unsubscribe_post(token):
    try:
        done = public_api("POST", f"/v1/unsubscribe/{token}")
    except ApiError as exc:
        if exc.status == 404:
            return render_template("auth/unsubscribe.html", token=token, done=None,
                                   error="This unsubscribe link is not valid."), 404
        raise
    if request.form.get("List-Unsubscribe") == "One-Click":
        return {"unsubscribed": True}
    return render_template("auth/unsubscribe.html", token=token, done=done)


def sign_in_url(target: str) -> str:
    return url_for("auth.sign_in") + "?" + urlencode({"next": target})
