"""What an event means in the log: its action, target, program and changed
fields, one `Draft` per organization it concerns. Pure functions of the
envelope (no I/O), one per consumed event type, in `ACTIONS`.

Action names are `<thing>.<what happened>`; SSO and SCIM will add theirs the
same way (`sign_in.sso_succeeded`, `scim.user_deprovisioned`, ...), from their
events, with the envelope's actor (an API token of scope scim)."""
from collections.abc import Callable
from dataclasses import dataclass, field

from contracts.envelope import Envelope
from contracts.identity import (
    ADMIN_GRANTED,
    ADMIN_REVOKED,
    API_TOKEN_CREATED,
    API_TOKEN_REVOKED,
    ORG_CREATED,
    ORG_UPDATED,
    PROFILE_UPDATED,
    PROFILES_UPDATED,
    SIGN_IN_FAILED,
    SIGN_IN_SUCCEEDED,
    USER_PASSWORD_RESET_REQUESTED,
)
from contracts.invitations import (
    IMPORT_COMPLETED,
    IMPORT_STARTED,
    INVITATION_ACCEPTED,
    INVITATION_CREATED,
    INVITATION_EXPIRED,
    INVITATION_RESENT,
    INVITATION_REVOKED,
    INVITATIONS_CREATED,
)
from contracts.messaging import (
    MESSAGE_DISCARDED,
    MESSAGE_DRAFTED,
    MESSAGE_SEND_REQUESTED,
    MESSAGE_SENT,
    MESSAGE_UPDATED,
    REMINDER_REQUESTED,
)
from contracts.programs import (
    COLLECTION_CHANGED,
    CONTRACT_CREATED,
    CONTRACT_UPDATED,
    MEMBER_JOIN_REFUSED,
    MEMBER_JOINED,
    MEMBER_REMOVED,
    PROGRAM_CREATED,
    PROGRAM_REMOVED,
    PROGRAM_UPDATED,
)
from contracts.registry import Event
from contracts.reporting import REPORT_READY
from contracts.scim import SCIM_GROUP_CHANGED, SCIM_GROUP_MAPPING_CHANGED, SCIM_USER_CHANGED
from contracts.sso import SSO_CONFIG_CHANGED


def actors_named(e: Envelope) -> list[tuple[str, str, str]]:
    """(kind, id, label) of the people and API tokens an event names with
    their email or name: the log labels actors with them (services/audit/models.AuditActor)."""
    found = []

    def person(item):
        if isinstance(item, dict) and item.get("user_id") and isinstance(item.get("email"), str):
            found.append(("person", str(item["user_id"]), item["email"]))

    p = e.payload
    person(p)
    for key in ("users", "people", "invitations"):
        for item in p.get(key) or ():
            person(item)
    if e.type.startswith("identity.api_token.") and p.get("token_id"):
        found.append(("api_token", str(p["token_id"]), p["name"]))
    return found


@dataclass
class Draft:
    org_id: str | None
    action: str
    target_type: str
    target_id: str | None = None
    target_label: str | None = None
    program_id: str | None = None
    changes: dict | None = None
    details: dict | None = None
    # who acted when the envelope names no one (a sign-in: the person signing in)
    actor_kind: str | None = None
    actor_id: str | None = None
    actor_label: str | None = None
    extra: dict = field(default_factory=dict)


def changes_of(before: dict | None, after: dict, fields_: list[str] | None = None) -> dict | None:
    """{field: {"before", "after"}} of the fields that changed (or of `fields_`)."""
    names = fields_ if fields_ is not None else sorted(set(after) | set(before or {}))
    found = {}
    for name in names:
        old = (before or {}).get(name)
        new = after.get(name)
        if before is None or old != new:
            found[name] = {"before": old, "after": new}
    return found or None


def _str(value):
    return None if value is None else str(value)


# ---- identity ----------------------------------------------------------------

def org_created(e: Envelope) -> list[Draft]:
    p = e.payload
    return [Draft(p["org_id"], "org.created", "organization", p["org_id"], p["name"],
                  changes=changes_of(None, {k: p.get(k) for k in ("name", "brand_color", "logo_url", "timezone")}))]


def org_updated(e: Envelope) -> list[Draft]:
    p = e.payload
    after = p["settings"]
    return [Draft(p["org_id"], "org.settings_changed", "organization", p["org_id"], after.get("name"),
                  changes=changes_of(p.get("previous"), after, list(p["changed"])))]


def admin_granted(e: Envelope) -> list[Draft]:
    p = e.payload
    return [Draft(p["org_id"], "admin.role_granted", "person", p["user_id"], p["email"],
                  program_id=p["program_ids"][0] if len(p["program_ids"]) == 1 else None,
                  details={"role": p["role"], "program_ids": p["program_ids"], "admin_id": p["admin_id"]})]


def admin_revoked(e: Envelope) -> list[Draft]:
    p = e.payload
    return [Draft(p["org_id"], "admin.role_revoked", "person", p["user_id"],
                  details={"role": p["role"], "admin_id": p["admin_id"]})]


PROFILE_FIELDS = ("email", "full_name", "external_id", "manager_name", "manager_email", "job_title", "job_type",
                  "business_unit", "business_unit_2", "location_city", "location_country", "location_region")


def profile_updated(e: Envelope) -> list[Draft]:
    p = e.payload
    after = {k: _str(p.get(k)) for k in PROFILE_FIELDS if k in p}
    previous = p.get("previous")
    return [Draft(p["org_id"], "person.profile_changed", "person", p["user_id"], p.get("email"),
                  changes=changes_of(previous, after, sorted(previous)) if previous is not None else None)]


def profiles_updated(e: Envelope) -> list[Draft]:
    p = e.payload
    people = p["people"]
    return [Draft(p["org_id"], "person.profiles_imported", "organization", p["org_id"],
                  details={"count": len(people), "user_ids": [str(x["user_id"]) for x in people]})]


def password_reset_requested(e: Envelope) -> list[Draft]:
    p = e.payload
    return [Draft(p.get("org_id"), "sign_in.password_reset_requested", "person", p["user_id"], p["email"],
                  details={"reason": p["reason"]}, actor_kind="anonymous", actor_label=p["email"])]


def _orgs(org_ids: list) -> list:
    return list(org_ids) or [None]  # no organization: the platform's chain


def sign_in_succeeded(e: Envelope) -> list[Draft]:
    p = e.payload
    return [Draft(org, "sign_in.succeeded", "person", p["user_id"], p["email"], details={"method": p["method"]},
                  actor_kind="person", actor_id=p["user_id"], actor_label=p["email"]) for org in _orgs(p["org_ids"])]


def sign_in_failed(e: Envelope) -> list[Draft]:
    p = e.payload
    return [Draft(org, "sign_in.failed", "person", p.get("user_id"), p["email"],
                  details={"method": p["method"], "reason": p["reason"]},
                  actor_kind="anonymous", actor_label=p["email"]) for org in _orgs(p["org_ids"])]


def api_token_event(action: str) -> Callable[[Envelope], list[Draft]]:
    def drafts(e: Envelope) -> list[Draft]:
        p = e.payload
        return [Draft(p["org_id"], action, "api_token", p["token_id"], p["name"],
                      details={"scopes": p["scopes"], "created_by": p.get("created_by")})]
    return drafts


# ---- programs ----------------------------------------------------------------

PROGRAM_FIELDS = ("name", "tagline", "banner_url", "enrollment_limit", "contract_ids", "slug")


def program_created(e: Envelope) -> list[Draft]:
    p = e.payload
    return [Draft(p["org_id"], "program.created", "program", p["program_id"], p["name"], program_id=p["program_id"],
                  changes=changes_of(None, {k: p.get(k) for k in PROGRAM_FIELDS if k in p}))]


def program_updated(e: Envelope) -> list[Draft]:
    p = e.payload
    after = {k: p.get(k) for k in PROGRAM_FIELDS if k in p}
    return [Draft(p["org_id"], "program.updated", "program", p["program_id"], p["name"], program_id=p["program_id"],
                  changes=changes_of(p.get("previous"), after, list(p["changed"])))]


def program_removed(e: Envelope) -> list[Draft]:
    p = e.payload
    return [Draft(p["org_id"], "program.removed", "program", p["program_id"], p["name"], program_id=p["program_id"])]


CONTRACT_FIELDS = ("name", "license_count", "starts_on", "ends_on")


def contract_created(e: Envelope) -> list[Draft]:
    p = e.payload
    return [Draft(p["org_id"], "contract.created", "contract", p["contract_id"], p["name"],
                  changes=changes_of(None, {k: _str(p[k]) if k.endswith("_on") else p[k] for k in CONTRACT_FIELDS}))]


def contract_updated(e: Envelope) -> list[Draft]:
    p = e.payload
    after = {k: _str(p[k]) if k.endswith("_on") else p[k] for k in CONTRACT_FIELDS}
    previous = p.get("previous")
    return [Draft(p["org_id"], "contract.updated", "contract", p["contract_id"], p["name"],
                  changes=changes_of(previous, after, sorted(previous)) if previous is not None else None)]


def member_joined(e: Envelope) -> list[Draft]:
    p = e.payload
    # joining through an invitation link or the program's URL: the person acts, signed in or by the link
    return [Draft(p["org_id"], "member.joined", "person", p["user_id"], p.get("email"), program_id=p["program_id"],
                  details={"program_name": p["program_name"], "contract_id": p["contract_id"],
                           "invitation_id": p.get("invitation_id")},
                  actor_kind="person", actor_id=p["user_id"], actor_label=p.get("email"))]


def member_removed(e: Envelope) -> list[Draft]:
    p = e.payload
    return [Draft(p["org_id"], "member.removed", "person", p["user_id"], p.get("email"), program_id=p["program_id"],
                  details={"program_name": p["program_name"], "reason": p["reason"]})]


def member_join_refused(e: Envelope) -> list[Draft]:
    """A join asked for by an event and refused by programs (SCIM's group joins: no license left, contract
    ended, ...); the actor is the envelope's (the SCIM token that made the change)."""
    p = e.payload
    return [Draft(p["org_id"], "member.join_refused", "person", p["user_id"], p.get("email"),
                  program_id=p["program_id"],
                  details={"code": p["code"], "message": p.get("message"), "contract_id": p.get("contract_id"),
                           "via": p["via"], "version": p.get("version")})]


def collection_changed(e: Envelope) -> list[Draft]:
    """Curriculum changes, one collection at a time (programs.curriculum.changed.v1, the resulting
    item set, is not recorded: this event says who changed what)."""
    p = e.payload
    items = {key: p[key] for key in ("course_ids", "specialization_ids") if p.get(key)}
    return [Draft(p["org_id"], f"curriculum.collection_{p['change'].lower()}", "collection", p["collection_id"],
                  p["name"], program_id=p["program_id"], changes=p.get("changes"), details=items or None)]


# ---- invitations -------------------------------------------------------------

def invitation_created(e: Envelope) -> list[Draft]:
    p = e.payload
    return [Draft(p["org_id"], "invitation.created", "invitation", p["invitation_id"], p["email"],
                  program_id=p["program_id"],
                  details={"user_id": p["user_id"], "full_name": p["full_name"], "program_name": p["program_name"],
                           "contract_id": p["contract_id"], "send_email": p["send_email"]})]


def invitations_created(e: Envelope) -> list[Draft]:
    p = e.payload
    items = p["invitations"]
    # the import's engine publishes it (no caller): the admin who uploaded the file acted
    by = {"actor_kind": "person", "actor_id": p["invited_by"]} if p.get("invited_by") else {}
    return [Draft(p["org_id"], "invitation.imported", "program", p["program_id"], p["program_name"],
                  program_id=p["program_id"],
                  details={"import_id": p["import_id"], "count": len(items), "contract_id": p["contract_id"],
                           "emails": [i["email"] for i in items]}, **by)]


def invitation_event(action: str) -> Callable[[Envelope], list[Draft]]:
    def drafts(e: Envelope) -> list[Draft]:
        p = e.payload
        details = {"user_id": p["user_id"]}
        if p.get("reason"):
            details["reason"] = p["reason"]
        by_invitee = {"actor_kind": "person", "actor_id": p["user_id"], "actor_label": p["email"]} \
            if action == "invitation.accepted" else {}  # the link is the invitee's (the route is public)
        return [Draft(p["org_id"], action, "invitation", p["invitation_id"], p["email"], program_id=p["program_id"],
                      details=details, **by_invitee)]
    return drafts


def import_started(e: Envelope) -> list[Draft]:
    p = e.payload
    return [Draft(p["org_id"], "invitation.import_started", "import", p["import_id"], p.get("filename"),
                  program_id=p["program_id"],
                  details={k: p[k] for k in ("program_name", "contract_id", "total_rows", "size_bytes", "send_email")})]


def import_completed(e: Envelope) -> list[Draft]:
    p = e.payload
    return [Draft(p["org_id"], "invitation.import_completed", "import", p["import_id"], program_id=p["program_id"],
                  details={k: p[k] for k in ("total_rows", "created", "duplicates", "invalid", "contract_id")})]


# ---- messaging ---------------------------------------------------------------

def message_sent(e: Envelope) -> list[Draft]:
    p = e.payload
    return [Draft(p["org_id"], "message.delivered", "message", p["message_id"],
                  details={k: p[k] for k in ("recipients", "sent", "suppressed", "failed")})]


def message_action(action: str) -> Callable[[Envelope], list[Draft]]:
    def drafts(e: Envelope) -> list[Draft]:
        p = e.payload
        programs = p.get("program_ids") or []
        details = {"audience": p["audience"]}
        if p.get("recipients") is not None:
            details["recipients"] = p["recipients"]
        return [Draft(p["org_id"], action, "message", p["message_id"], p["subject"],
                      program_id=programs[0] if len(programs) == 1 else None, changes=p.get("changes"),
                      details=details)]
    return drafts


def reminder_requested(e: Envelope) -> list[Draft]:
    p = e.payload
    return [Draft(p["org_id"], "message.enroll_reminder_sent", "program", p["program_id"], p["program_name"],
                  program_id=p["program_id"], details={k: p[k] for k in ("recipients", "queued", "suppressed")})]


def report_ready(e: Envelope) -> list[Draft]:
    """A report link emailed to an admin (asked for, or a scheduled run's).
    The link itself is a bearer secret: never part of the entry."""
    p = e.payload
    action = "report.scheduled_sent" if p["scheduled"] else "report.emailed"
    return [Draft(p["org_id"], action, "report", p["report"], p["report_name"],
                  details={"recipient": p["email"], "program_name": p.get("program_name"),
                           "expires_at": p["expires_at"].isoformat()})]


def sso_config_changed(e: Envelope) -> list[Draft]:
    """An org admin changed single sign-on: sso.connection_created, sso.domain_verified, sso.policy_updated, ..."""
    p = e.payload
    changes = None
    if p.get("previous") is not None or p.get("current") is not None:
        before, after = p.get("previous") or {}, p.get("current") or {}
        changes = changes_of(before if p.get("previous") is not None else None, after,
                             sorted(set(before) | set(after))) if (before or after) else None
    return [Draft(p["org_id"], f"sso.{p['thing']}_{p['change']}", f"sso_{p['thing']}", _str(p.get("target_id")),
                  p.get("label"), changes=changes, details={"changed": list(p.get("changed") or [])})]


# event -> drafts of its entries (service.py subscribes to each, one handler per event)
# ---- SCIM (identity provider provisioning; the actor is the API token of scope scim) --------

def scim_user_changed(e: Envelope) -> list[Draft]:
    """scim.user_provisioned, scim.user_updated, scim.user_deprovisioned, scim.user_reactivated, scim.user_deleted
    (profile fields that changed are person.profile_changed entries of the same request)."""
    p = e.payload
    return [Draft(p["org_id"], f"scim.user_{p['change'].lower()}", "person", p["user_id"], p.get("email"),
                  details={"user_name": p["user_name"], "active": p["active"], "changed": p.get("changed") or []})]


def scim_group_changed(e: Envelope) -> list[Draft]:
    p = e.payload
    return [Draft(p["org_id"], f"scim.group_{p['change'].lower()}", "scim_group", p["group_id"], p["display_name"],
                  details={"added": p.get("added") or [], "removed": p.get("removed") or []})]


def scim_group_mapping_changed(e: Envelope) -> list[Draft]:
    p = e.payload
    action = "scim.group_mapping_set" if p["change"] == "SET" else "scim.group_mapping_removed"
    return [Draft(p["org_id"], action, "scim_group_mapping", p["mapping_id"], p["display_name"],
                  program_id=p["program_id"],
                  details={"program_id": p["program_id"], "contract_id": p["contract_id"]})]


ACTIONS: dict[Event, Callable[[Envelope], list[Draft]]] = {
    ORG_CREATED: org_created,
    ORG_UPDATED: org_updated,
    ADMIN_GRANTED: admin_granted,
    ADMIN_REVOKED: admin_revoked,
    PROFILE_UPDATED: profile_updated,
    PROFILES_UPDATED: profiles_updated,
    USER_PASSWORD_RESET_REQUESTED: password_reset_requested,
    SIGN_IN_SUCCEEDED: sign_in_succeeded,
    SIGN_IN_FAILED: sign_in_failed,
    API_TOKEN_CREATED: api_token_event("api_token.created"),
    API_TOKEN_REVOKED: api_token_event("api_token.revoked"),
    PROGRAM_CREATED: program_created,
    PROGRAM_UPDATED: program_updated,
    PROGRAM_REMOVED: program_removed,
    CONTRACT_CREATED: contract_created,
    CONTRACT_UPDATED: contract_updated,
    MEMBER_JOINED: member_joined,
    MEMBER_REMOVED: member_removed,
    MEMBER_JOIN_REFUSED: member_join_refused,
    COLLECTION_CHANGED: collection_changed,
    INVITATION_CREATED: invitation_created,
    INVITATIONS_CREATED: invitations_created,
    IMPORT_STARTED: import_started,
    INVITATION_REVOKED: invitation_event("invitation.revoked"),
    INVITATION_RESENT: invitation_event("invitation.resent"),
    INVITATION_ACCEPTED: invitation_event("invitation.accepted"),
    INVITATION_EXPIRED: invitation_event("invitation.expired"),
    IMPORT_COMPLETED: import_completed,
    MESSAGE_DRAFTED: message_action("message.drafted"),
    MESSAGE_UPDATED: message_action("message.updated"),
    MESSAGE_DISCARDED: message_action("message.discarded"),
    MESSAGE_SEND_REQUESTED: message_action("message.send_requested"),
    MESSAGE_SENT: message_sent,
    REMINDER_REQUESTED: reminder_requested,
    REPORT_READY: report_ready,
    SCIM_USER_CHANGED: scim_user_changed,
    SCIM_GROUP_CHANGED: scim_group_changed,
    SCIM_GROUP_MAPPING_CHANGED: scim_group_mapping_changed,
    SSO_CONFIG_CHANGED: sso_config_changed,
}


_BY_TYPE = {event.type: drafts for event, drafts in ACTIONS.items()}


def drafts_of(event: Envelope) -> list[Draft]:
    return _BY_TYPE[event.type](event)
