"""SCIM provisioning (docs/scim.md), for org admins: the base URL to give the identity provider, a token of
scope `scim` (the secret shown once; listed and revoked with the other API tokens), the group mappings (members
of a SCIM group of this name join this program on this contract's licenses) and whether a deprovisioned person
gets the program exit email (the organization setting `deprovision_exit_email`)."""
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from console.gateway import ApiError
from console.pages.common import attempt, message_of
from console.pages.settings import TABS
from console.web import api, org_id, require_org_admin

pages = Blueprint("scim", __name__)

MESSAGES = {"NOT_FOUND": "That program or contract no longer exists. Reload the page and choose again."}


def _names(org: str) -> tuple[list[dict], dict[str, str]]:
    """The organization's programs, and its contracts' names by id."""
    programs = api("GET", f"/v1/orgs/{org}/programs", params={"limit": 200})["items"]
    contracts = {c["id"]: c["name"] for c in api("GET", f"/v1/orgs/{org}/contracts", params={"limit": 200})["items"]}
    return programs, contracts


@pages.route("/admin/settings/scim", methods=["GET", "POST"])
@require_org_admin
def settings():
    org = org_id()
    errors, error, created, form_kind = {}, None, None, None
    values = {"display_name": "", "program_id": "", "contract_id": "", "token_name": "Identity provider"}
    status = 200
    if request.method == "POST":
        step = request.form.get("step", "")
        form = request.form
        if step.startswith("remove:"):
            attempt(lambda: api("DELETE", f"/v1/orgs/{org}/scim/group-mappings/{step.partition(':')[2]}"),
                    "The mapping is removed: the group's members leave the program; new members no longer join.",
                    MESSAGES)
            return redirect(url_for("scim.settings"))
        try:
            if step == "mapping":
                form_kind = step
                values.update({k: form.get(k, "").strip() for k in ("display_name", "program_id", "contract_id")})
                mapping = api("PUT", f"/v1/orgs/{org}/scim/group-mappings", json={
                    k: values[k] for k in ("display_name", "program_id", "contract_id")})
                flash(f"Members of the group “{mapping['display_name']}” now join the program.")
                return redirect(url_for("scim.settings"))
            if step == "exit-email":
                api("PATCH", f"/v1/orgs/{org}", json={"deprovision_exit_email": form.get("exit_email") == "on"})
                flash("The deprovisioning setting is saved.")
                return redirect(url_for("scim.settings"))
            if step == "token":
                form_kind = step
                values["token_name"] = form.get("token_name", "").strip()
                created = api("POST", f"/v1/orgs/{org}/api-tokens",
                              json={"name": values["token_name"], "scopes": ["scim"]})
                status = 201
            else:
                return redirect(url_for("scim.settings"))
        except ApiError as exc:
            errors = exc.field_errors()
            if form_kind == "token" and "name" in errors:
                errors["token_name"] = errors.pop("name")
            error = None if errors else message_of(exc, MESSAGES)
            status = 400 if exc.status < 500 else 503
    programs, contract_names = _names(org)
    program_names = {p["id"]: p["name"] for p in programs}
    mappings = api("GET", f"/v1/orgs/{org}/scim/group-mappings")
    for m in mappings:
        m["program_name"] = program_names.get(m["program_id"], "(a removed program)")
        m["contract_name"] = contract_names.get(m["contract_id"], "(a removed contract)")
    tokens = [t for t in api("GET", f"/v1/orgs/{org}/api-tokens") if "scim" in t["scopes"] and not t.get("revoked_at")]
    organization = api("GET", f"/v1/orgs/{org}")
    program_options = [("", "Choose a program")] + [
        (p["id"], p["name"] + (" (contracts: " + ", ".join(contract_names.get(c, "?") for c in p["contract_ids"]) + ")"
                               if p.get("contract_ids") else " (no contract)")) for p in programs]
    contract_options = [("", "Choose a contract")] + sorted(contract_names.items(), key=lambda kv: kv[1].lower())
    base_url = current_app.extensions["console_settings"].api_public_url + "/scim/v2"
    return render_template("settings/scim.html", base_url=base_url, mappings=mappings, tokens=tokens,
                           created=created, exit_email=organization.get("deprovision_exit_email") is not False,
                           program_options=program_options, contract_options=contract_options,
                           values=values, errors=errors, error=error, form_kind=form_kind,
                           tabs=TABS, tab="scim.settings"), status
