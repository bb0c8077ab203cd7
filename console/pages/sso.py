"""Single sign-on pages (docs/sso.md): the org admins' settings (connections,
the URLs and metadata to give the identity provider, "only SSO"), their email
domains (claim, the TXT record to publish, "Check now", removal), and the
sign-in page's "Sign in with your company account" with the return from
the provider (/sso/complete: the one-time code is exchanged for the
session's tokens, server to server).

The way to the provider is a link, not a form: the console's CSP allows forms
to post to itself only (form-action 'self'), and a form's redirects to
another site would be blocked."""
from flask import Blueprint, flash, redirect, render_template, request, url_for

from console.gateway import ApiError
from console.pages.auth import message_of
from console.pages.settings import TABS
from console.web import api, home_path, org_id, public_api, require_org_admin, safe_next, start_session

pages = Blueprint("sso", __name__)

JOIN_REFUSALS = {
    "LICENSE_LIMIT_REACHED": "it has no free license left",
    "CONTRACT_NOT_ACTIVE": "its contract is not active",
    "NOT_FOUND": "it no longer exists",
}
SIGN_IN_REFUSALS = {
    "TOKEN_INVALID": "This sign-in has expired or was already used. Sign in again.",
}


def _tabs():
    return TABS


# ---------------------------------------------------------------- signing in


@pages.route("/sign-in/sso", methods=["GET", "POST"])
def company_sign_in():
    """Find the company account's connection(s) from the email address's domain."""
    target = safe_next(request.values.get("next"), "")
    email = request.values.get("email", "").strip()
    if request.method == "GET" and not email:
        return render_template("sso/sign_in.html", next=target, email="", options=None)
    try:
        options = public_api("POST", "/v1/auth/sso/discover", json={"email": email})["items"]
    except ApiError as exc:
        errors = exc.field_errors()
        return render_template("sso/sign_in.html", next=target, email=email, options=None, errors=errors,
                               error=None if errors else message_of(exc)), exc.status if exc.status < 500 else 503
    for option in options:
        option["url"] = option["start_url"] + ("?" + _query({"return_to": target}) if target else "")
    return render_template("sso/sign_in.html", next=target, email=email, options=options)


def _query(params: dict) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


@pages.route("/sso/complete")
def complete():
    """The gateway sends the browser here after a sign-in through the company account."""
    code = request.args.get("code", "")
    target = safe_next(request.args.get("next"), "")
    try:
        tokens = public_api("POST", "/v1/auth/sso/exchange", json={"code": code})
        start_session(tokens)
    except ApiError as exc:
        return render_template("sso/failed.html", error=message_of(exc, SIGN_IN_REFUSALS)), \
            exc.status if exc.status < 500 else 503
    for refusal in request.args.getlist("refused")[:20]:
        code_, _, program = refusal.partition(":")
        why = JOIN_REFUSALS.get(code_, "it refused the join")
        flash(f"You could not join {program or 'a program'}: {why}. Contact your administrator.", "error")
    return redirect(target or home_path())


# ---------------------------------------------------------------- the org admins' settings


def _join_choices(org: str) -> list[tuple[str, str]]:
    """("program_id/contract_id", "Program — Contract") for each contract of each program."""
    names = {c["id"]: c["name"] for c in api("GET", f"/v1/orgs/{org}/contracts", params={"limit": 200})["items"]}
    programs = api("GET", f"/v1/orgs/{org}/programs", params={"limit": 200})["items"]
    return [(f"{p['id']}/{cid}", f"{p['name']} — licenses of {names.get(cid, 'a contract')}")
            for p in programs for cid in p.get("contract_ids") or []]


def _mapping(text: str) -> dict:
    """`job_title = title` lines -> {"job_title": "title"}."""
    mapping = {}
    for line in text.splitlines():
        field, sep, attribute = line.partition("=")
        if sep and field.strip() and attribute.strip():
            mapping[field.strip()] = attribute.strip()
    return mapping


@pages.route("/admin/settings/sso", methods=["GET", "POST"])
@require_org_admin
def settings():
    org = org_id()
    base = f"/v1/orgs/{org}/sso"
    errors, error, form_kind = {}, None, None
    values = {}
    if request.method == "POST":
        step = request.form.get("step", "")
        form = request.form
        try:
            if step in ("add-oidc", "add-saml"):
                form_kind = step
                prefix = "" if step == "add-oidc" else "saml_"  # the two forms' fields have their own ids
                values = {k: form.get(prefix + k, "").strip() for k in ("name", "mapping")}
                values.update({k: form.get(k, "").strip() for k in ("issuer", "client_id", "idp_metadata_url",
                                                                    "idp_metadata_xml")})
                body = {"kind": "OIDC" if step == "add-oidc" else "SAML", "name": values["name"]}
                if step == "add-oidc":
                    body.update(issuer=values["issuer"] or None, client_id=values["client_id"] or None,
                                client_secret=form.get("client_secret", "") or None)
                elif values["idp_metadata_xml"]:
                    body["idp_metadata_xml"] = values["idp_metadata_xml"]
                elif values["idp_metadata_url"]:
                    body["idp_metadata_url"] = values["idp_metadata_url"]
                if values["mapping"]:
                    body["attribute_mapping"] = _mapping(values["mapping"])
                created = api("POST", f"{base}/connections", json=body)
                flash(f"Connection “{created['name']}” added. Give your identity provider the URLs shown below.")
                return redirect(url_for("sso.settings"))
            if step.startswith("change:"):
                connection_id = step.partition(":")[2]
                form_kind = step
                values = {"mapping": form.get(f"mapping-{connection_id}", "").strip()}
                joins = []
                for pair in form.getlist(f"auto_join-{connection_id}"):
                    program_id, _, contract_id = pair.partition("/")
                    joins.append({"program_id": program_id, "contract_id": contract_id})
                api("PATCH", f"{base}/connections/{connection_id}",
                    json={"attribute_mapping": _mapping(values["mapping"]), "auto_join": joins})
                flash("The connection is changed.")
                return redirect(url_for("sso.settings"))
            if step.startswith(("enable:", "disable:")):
                action, _, connection_id = step.partition(":")
                api("PATCH", f"{base}/connections/{connection_id}", json={"enabled": action == "enable"})
                flash("The connection is turned on." if action == "enable" else "The connection is turned off.")
            elif step.startswith("delete:"):
                api("DELETE", f"{base}/connections/{step.partition(':')[2]}")
                flash("The connection is removed.")
            elif step == "policy":
                api("PUT", f"{base}/policy", json={"only_sso": form.get("only_sso") == "on"})
                flash("The sign-in rule is saved.")
            return redirect(url_for("sso.settings"))
        except ApiError as exc:
            errors = exc.field_errors()
            if form_kind and form_kind.startswith("change:") and "attribute_mapping" in errors:
                errors[f"mapping-{form_kind.partition(':')[2]}"] = errors.pop("attribute_mapping")
            elif form_kind == "add-saml":  # the SAML form's own field names
                errors = {{"name": "saml_name", "attribute_mapping": "saml_mapping"}.get(k, k): v
                          for k, v in errors.items()}
            elif "attribute_mapping" in errors:
                errors["mapping"] = errors.pop("attribute_mapping")
            error = None if errors else message_of(exc)
    connections = api("GET", f"{base}/connections")
    join_choices = _join_choices(org)
    for c in connections:
        c["mapping_text"] = "\n".join(f"{k} = {v}" for k, v in sorted(c["attribute_mapping"].items()))
        c["joins"] = {f"{j['program_id']}/{j['contract_id']}" for j in c["auto_join"]}
        c["join_labels"] = [label for value, label in join_choices if value in c["joins"]]
    domains = api("GET", f"{base}/domains")
    policy = api("GET", f"{base}/policy")
    return render_template("sso/settings.html", connections=connections, domains=domains, policy=policy,
                           join_choices=join_choices,
                           errors=errors, error=error, values=values, form_kind=form_kind, tabs=_tabs(),
                           tab="sso.settings"), 400 if errors or error else 200


# ---------------------------------------------------------------- the org admins' email domains

DOMAIN_ERRORS = {
    "CONFLICT": "Your organization already claims this domain.",
    "DOMAIN_TAKEN": "Another organization has verified this domain. If it is yours, contact support.",
    "NOT_FOUND": "This domain is no longer claimed (removed meanwhile?).",
}
CHECK_RESULTS = {
    "VERIFIED": "Verified: the TXT record holds the value.",
    "NOT_FOUND": "The TXT record was not found yet. A new record can take a few minutes (up to an hour) to be "
                 "visible: check again later.",
    "VALUE_MISMATCH": "A TXT record is there, but not with this value: copy the value again.",
    "DNS_UNREACHABLE": "DNS could not be reached just now: check again in a moment.",
}
PROOFS = {"DNS_TXT": "DNS TXT record", "ADMIN": "verified by support"}


def _readable(errors: dict) -> dict:
    """A field code's explanation only ("DOMAIN_PUBLIC_SUFFIX: com is ..." -> "com is ...")."""
    return {k: [m.partition(": ")[2] if m.partition(": ")[0].isupper() and m.partition(": ")[2] else m
                for m in v] for k, v in errors.items()}


@pages.route("/admin/settings/sso/domains", methods=["GET", "POST"])
@require_org_admin
def domains():
    """The organization's email domains: claim one, publish its TXT record, "Check now", remove."""
    base = f"/v1/orgs/{org_id()}/sso/domains"
    errors, error, value = {}, None, ""
    if request.method == "POST":
        step = request.form.get("step", "")
        try:
            if step == "add":
                value = request.form.get("domain", "").strip()
                claimed = api("POST", base, json={"domain": value})
                flash(f"{claimed['domain']} is claimed. Publish the TXT record shown below in its DNS, "
                      "then use “Check now”.")
                return redirect(url_for("sso.domains", _anchor=f"domain-{claimed['id']}"))
            action, _, domain_id = step.partition(":")
            if action == "check" and domain_id:
                checked = api("POST", f"{base}/{domain_id}/check")
                if checked["verified"]:
                    flash(f"{checked['domain']} is verified.")
                else:
                    flash(f"{checked['domain']}: " + CHECK_RESULTS.get(checked["last_check"] or "", "not verified "
                                                                       "yet."), "error")
                return redirect(url_for("sso.domains", _anchor=f"domain-{domain_id}"))
            if action == "remove" and domain_id:
                api("DELETE", f"{base}/{domain_id}")
                flash("The domain is removed.")
            return redirect(url_for("sso.domains"))
        except ApiError as exc:
            errors = _readable(exc.field_errors())
            if errors and "domain" not in errors:
                errors = {"domain": [m for v in errors.values() for m in v]}
            error = None if errors else message_of(exc, DOMAIN_ERRORS)
    listed = api("GET", base)
    for d in listed:
        d["check_text"] = CHECK_RESULTS.get(d.get("last_check") or "")
        d["proof_text"] = PROOFS.get(d.get("proof") or "", d.get("proof"))
    return render_template("sso/domains.html", domains=listed, errors=errors, error=error, value=value,
                           tabs=_tabs(), tab="sso.settings"), 400 if errors or error else 200
