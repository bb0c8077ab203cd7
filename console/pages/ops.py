"""The root page, brand colours as a stylesheet (no inline style: the CSP allows none), health."""
import re

from flask import Blueprint, Response, redirect, session, url_for

from console.web import home_path, signed_in

pages = Blueprint("ops", __name__)
HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


@pages.route("/")
def root():
    return redirect(home_path() if signed_in() else url_for("auth.sign_in"))


@pages.route("/brand.css")
def brand_css():
    color = (session.get("brand") or {}).get("brand_color") or ""
    css = f":root {{ --brand: {color}; }}\n" if HEX.match(color) else ""
    response = Response(css, mimetype="text/css")
    response.headers["Cache-Control"] = "no-store"
    return response


@pages.route("/healthz")
def healthz():
    return {"status": "ok"}
