"""reporting's consumers of other services' events, one function per event:
they keep reporting's projections (people, organizations, programs,
contracts, memberships, invitations, enrollments) current. Every one is an
upsert, so a redelivery or an event arriving before the one it follows
leaves the same rows (the kit also skips redeliveries)."""
import json

from sqlalchemy import text

from contracts.envelope import Envelope
from contracts.identity import ProfileFieldsSchema
from contracts.invitations import InvitationState
from contracts.programs import CollectionChange, MemberState
from servicekit.bulk import insert_rows
from servicekit.db import UnitOfWork
from servicekit.models import normalize_email
from services.reporting import home

PROFILE_FIELDS = tuple(ProfileFieldsSchema().fields)

# ---------------------------------------------------------------- identity


def on_org_created(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    uow.session.execute(text(
        "INSERT INTO orgs (org_id, name, timezone, settings) VALUES (:org, :name, :tz, CAST(:settings AS jsonb)) "
        "ON CONFLICT (org_id) DO NOTHING"),
        {"org": p["org_id"], "name": p["name"], "tz": p.get("timezone"),
         "settings": json.dumps({k: p.get(k) for k in ("brand_color", "logo_url")})})


def on_org_updated(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    settings = p["settings"]
    schedule = settings.get("report_schedule")
    start = settings.get("subscription_start")
    uow.session.execute(text(
        "INSERT INTO orgs (org_id, name, timezone, subscription_start, report_schedule, settings, updated_at) "
        "VALUES (:org, :name, :tz, :start, CAST(:schedule AS jsonb), CAST(:settings AS jsonb), :at) "
        "ON CONFLICT (org_id) DO UPDATE SET name = coalesce(EXCLUDED.name, orgs.name), "
        "timezone = EXCLUDED.timezone, subscription_start = EXCLUDED.subscription_start, "
        "report_schedule = EXCLUDED.report_schedule, settings = EXCLUDED.settings, updated_at = EXCLUDED.updated_at "
        "WHERE orgs.updated_at <= EXCLUDED.updated_at"),
        {"org": p["org_id"], "name": settings.get("name") or "", "tz": settings.get("timezone"),
         "start": start.isoformat() if start else None,
         "schedule": json.dumps(schedule, default=str) if schedule is not None else None,
         "settings": json.dumps(settings, default=str), "at": event.occurred_at})


def _latest_by_user(rows: list[dict], columns) -> list[dict]:
    """One row per person (the last given wins), in id order: one upsert statement touches a row once."""
    return sorted(({"user_id": r["user_id"], **{c: r.get(c) for c in columns}} for r in
                   {r["user_id"]: r for r in rows}.values()), key=lambda r: r["user_id"])


def on_users_registered(uow: UnitOfWork, users: list[dict]) -> None:
    insert_rows(uow.session, "accounts", {"user_id": "uuid", "email": "text", "full_name": "text"},
                _latest_by_user(users, ("email", "full_name")),
                "ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email, full_name = EXCLUDED.full_name")


PEOPLE_COLUMNS = ("email", "full_name", *PROFILE_FIELDS)


def on_profiles_updated(uow: UnitOfWork, org_id: str, people: list[dict]) -> None:
    """The people's organization profiles, one statement for a whole batch (a CSV import's thousands)."""
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in PEOPLE_COLUMNS)
    insert_rows(uow.session, "people", {"user_id": "uuid", **{c: "text" for c in PEOPLE_COLUMNS}},
                _latest_by_user(people, PEOPLE_COLUMNS),
                f"ON CONFLICT (org_id, user_id) DO UPDATE SET {updates}, updated_at = now()",
                constants={"org_id": ("uuid", org_id)})


def on_admin_granted(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    uow.session.execute(text(
        "INSERT INTO admins (admin_id, org_id, user_id, email, full_name, role, program_ids) "
        "VALUES (:id, :org, :user, :email, :name, :role, CAST(:programs AS text[])) "
        "ON CONFLICT (admin_id) DO UPDATE SET role = EXCLUDED.role, program_ids = EXCLUDED.program_ids, "
        "email = EXCLUDED.email, full_name = EXCLUDED.full_name"),
        {"id": p["admin_id"], "org": p["org_id"], "user": p["user_id"], "email": p["email"],
         "name": p["full_name"], "role": p["role"], "programs": list(p["program_ids"])})


def on_admin_revoked(uow: UnitOfWork, event: Envelope) -> None:
    uow.session.execute(text("DELETE FROM admins WHERE admin_id = :id"), {"id": event.payload["admin_id"]})


# ---------------------------------------------------------------- programs


def on_program_saved(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    uow.session.execute(text(
        "INSERT INTO programs (program_id, org_id, name, slug, contract_ids, created_at) "
        "VALUES (:id, :org, :name, :slug, CAST(:contracts AS text[]), :at) "
        "ON CONFLICT (program_id) DO UPDATE SET name = EXCLUDED.name, slug = EXCLUDED.slug, "
        "contract_ids = EXCLUDED.contract_ids"),
        {"id": p["program_id"], "org": p["org_id"], "name": p["name"], "slug": p["slug"],
         "contracts": list(p["contract_ids"]), "at": event.occurred_at})


def on_program_removed(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    uow.session.execute(text(
        "INSERT INTO programs (program_id, org_id, name, slug, removed_at) VALUES (:id, :org, :name, :slug, :at) "
        "ON CONFLICT (program_id) DO UPDATE SET removed_at = EXCLUDED.removed_at"),
        {"id": p["program_id"], "org": p["org_id"], "name": p["name"], "slug": p["slug"], "at": p["removed_at"]})


def on_contract_saved(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    uow.session.execute(text(
        "INSERT INTO contracts (contract_id, org_id, name, license_count, starts_on, ends_on) "
        "VALUES (:id, :org, :name, :count, :starts, :ends) ON CONFLICT (contract_id) DO UPDATE SET "
        "name = EXCLUDED.name, license_count = EXCLUDED.license_count, starts_on = EXCLUDED.starts_on, "
        "ends_on = EXCLUDED.ends_on"),
        {"id": p["contract_id"], "org": p["org_id"], "name": p["name"], "count": p["license_count"],
         "starts": p["starts_on"], "ends": p["ends_on"]})


# This join is the latest thing known of the person in the program: no later removal, no later join. An
# earlier join arriving late (after the removal that followed it) only records that they joined.
LATEST_JOIN = ("((memberships.removed_at IS NULL OR memberships.removed_at <= EXCLUDED.joined_at) "
               "AND (memberships.joined_at IS NULL OR memberships.joined_at <= EXCLUDED.joined_at))")


MEMBER_JOINED_UPSERT = text(
    "INSERT INTO memberships (program_id, user_id, org_id, membership_id, state, contract_id, invitation_id, "
    "email, full_name, joined_at) VALUES (:program, :user, :org, :membership, :state, :contract, :invitation, "
    "lower(:email), :name, :at) ON CONFLICT (program_id, user_id) DO UPDATE SET "
    f"membership_id = CASE WHEN {LATEST_JOIN} THEN EXCLUDED.membership_id ELSE memberships.membership_id END, "
    f"state = CASE WHEN {LATEST_JOIN} THEN EXCLUDED.state ELSE memberships.state END, "
    f"contract_id = CASE WHEN {LATEST_JOIN} THEN EXCLUDED.contract_id ELSE memberships.contract_id END, "
    "invitation_id = coalesce(EXCLUDED.invitation_id, memberships.invitation_id), "
    "email = coalesce(EXCLUDED.email, memberships.email), full_name = coalesce(EXCLUDED.full_name, "
    f"memberships.full_name), joined_at = CASE WHEN {LATEST_JOIN} THEN EXCLUDED.joined_at "
    "ELSE coalesce(memberships.joined_at, EXCLUDED.joined_at) END, "
    f"removed_at = CASE WHEN {LATEST_JOIN} THEN NULL ELSE memberships.removed_at END")

# A removal applies unless a later join is already known.
MEMBER_REMOVED_UPSERT = text(
    "INSERT INTO memberships (program_id, user_id, org_id, membership_id, state, contract_id, email, full_name, "
    "removed_at) VALUES (:program, :user, :org, :membership, :state, :contract, lower(:email), :name, :at) "
    "ON CONFLICT (program_id, user_id) DO UPDATE SET state = EXCLUDED.state, removed_at = EXCLUDED.removed_at "
    "WHERE memberships.joined_at IS NULL OR memberships.joined_at <= EXCLUDED.removed_at")


def on_member_joined(uow: UnitOfWork, event: Envelope) -> None:
    _membership_changed(uow, event.payload, MEMBER_JOINED_UPSERT, MemberState.MEMBER, event.payload["joined_at"])


def on_member_removed(uow: UnitOfWork, event: Envelope) -> None:
    _membership_changed(uow, event.payload, MEMBER_REMOVED_UPSERT, MemberState.DELETED_MEMBER,
                        event.payload["removed_at"])


def _membership_changed(uow: UnitOfWork, p: dict, upsert, state: MemberState, at) -> None:
    """A join or a removal upserted into the person's row in the program, the home's counters kept with it."""
    with home.counted(uow, places=[(p["program_id"], p["user_id"])]):
        uow.session.execute(upsert, {
            "program": p["program_id"], "user": p["user_id"], "org": p["org_id"], "membership": p["membership_id"],
            "state": state.value, "contract": p.get("contract_id"), "invitation": p.get("invitation_id"),
            "email": p.get("email"), "name": p.get("full_name"), "at": at})


def on_enrollment_created(uow: UnitOfWork, event: Envelope) -> None:
    """The enrollment, counted once on its day (a redelivery inserts nothing)
    and in its program's funnel (the person is now enrolled there)."""
    p = event.payload
    with home.counted(uow, places=[(p["program_id"], p["user_id"])]):
        day = _enrollment_created(uow, p)
    if day is not None:
        home.enrollment_added(uow, p["org_id"], p["program_id"], p["kind"], day)
        home.sync_coverage(uow.session, p["org_id"], [p["user_id"]])  # the program now counts these courses


def _enrollment_created(uow: UnitOfWork, p: dict):
    return uow.session.execute(text(
        "INSERT INTO enrollments (enrollment_id, org_id, program_id, user_id, kind, course_id, specialization_id, "
        "collection_id, item_name, item_slug, enrolled_at) VALUES (:id, :org, :program, :user, :kind, :course, "
        ":spec, :collection, :name, :slug, :at) ON CONFLICT (enrollment_id) DO NOTHING "
        "RETURNING (enrolled_at AT TIME ZONE 'UTC')::date"),
        {"id": p["enrollment_id"], "org": p["org_id"], "program": p["program_id"], "user": p["user_id"],
         "kind": p["kind"], "course": p.get("course_id"), "spec": p.get("specialization_id"),
         "collection": p.get("collection_id"), "name": p["item_name"], "slug": p["item_slug"],
         "at": p["enrolled_at"]}).scalar()


def on_enrollment_downgraded(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    uow.session.execute(text("UPDATE enrollments SET downgraded_at = :at WHERE enrollment_id = :id"),
                        {"id": p["enrollment_id"], "at": p["downgraded_at"]})


def on_collection_changed(uow: UnitOfWork, event: Envelope) -> None:
    """A collection's name as of its latest change (every change carries it);
    deleted: marked, its name kept (the enrollments made through it still name it)."""
    p = event.payload
    deleted = event.occurred_at if p["change"] == CollectionChange.DELETED else None
    uow.session.execute(text(
        "INSERT INTO collections (collection_id, org_id, program_id, name, deleted_at, changed_at) "
        "VALUES (:id, :org, :program, :name, :deleted, :at) ON CONFLICT (collection_id) DO UPDATE SET "
        "name = CASE WHEN collections.changed_at <= EXCLUDED.changed_at THEN EXCLUDED.name ELSE collections.name END, "
        "changed_at = GREATEST(collections.changed_at, EXCLUDED.changed_at), "
        "deleted_at = coalesce(collections.deleted_at, EXCLUDED.deleted_at)"),
        {"id": p["collection_id"], "org": p["org_id"], "program": p["program_id"], "name": p["name"],
         "deleted": deleted, "at": event.occurred_at})


# ---------------------------------------------------------------- invitations

def on_invitations_created(uow: UnitOfWork, event: Envelope, items: list[dict]) -> None:
    p = event.payload
    with home.counted(uow, places=[(p["program_id"], i["user_id"]) for i in items if i.get("user_id")],
                      invitations=[i["invitation_id"] for i in items]):
        _invitations_created(uow, event, items)


INVITATION_ROWS = {"invitation_id": "uuid", "user_id": "uuid", "email": "text", "full_name": "text",
                   "external_id": "text"}


def _invitations_created(uow: UnitOfWork, event: Envelope, items: list[dict]) -> None:
    """The invitations and their invitees' INVITED memberships, one statement each (a CSV import's
    thousands too), rows in a stable order."""
    p = event.payload
    rows = [{"invitation_id": i["invitation_id"], "user_id": i.get("user_id"),
             "email": normalize_email(i["email"]) if i.get("email") else None, "full_name": i.get("full_name"),
             "external_id": i.get("external_id")} for i in items]
    send = bool(p.get("send_email"))
    shared = {"org_id": ("uuid", p["org_id"]), "program_id": ("uuid", p["program_id"]),
              "contract_id": ("uuid", p.get("contract_id"))}
    # a row already there was made by an event that followed this one (accepted, revoked,
    # expired: its created_at is that later time): it keeps its state and gets the creation's fields
    once = {r["invitation_id"]: r for r in rows}.values()  # ON CONFLICT touches a row once per statement
    insert_rows(uow.session, "invitations", INVITATION_ROWS, sorted(once, key=lambda r: r["invitation_id"]),
                "ON CONFLICT (invitation_id) DO UPDATE SET contract_id = EXCLUDED.contract_id, "
                "full_name = EXCLUDED.full_name, external_id = EXCLUDED.external_id, send_email = EXCLUDED.send_email, "
                "import_id = EXCLUDED.import_id, created_at = EXCLUDED.created_at, "
                "last_sent_at = GREATEST(invitations.last_sent_at, EXCLUDED.last_sent_at) "
                "WHERE invitations.created_at > EXCLUDED.created_at",
                constants={**shared, "state": ("text", InvitationState.PENDING.value), "send_email": ("boolean", send),
                           "import_id": ("uuid", p.get("import_id")), "created_at": ("timestamptz", event.occurred_at),
                           "last_sent_at": ("timestamptz", event.occurred_at if send else None)})
    # invitees are INVITED members of the program until they join (a member stays a member)
    members = sorted({r["user_id"]: r for r in rows if r["user_id"]}.values(), key=lambda r: r["user_id"])
    insert_rows(uow.session, "memberships", {c: INVITATION_ROWS[c] for c in ("user_id", "invitation_id", "email",
                                                                             "full_name")}, members,
                "ON CONFLICT (program_id, user_id) DO UPDATE SET invited_at = EXCLUDED.invited_at, "
                "invitation_id = EXCLUDED.invitation_id, contract_id = EXCLUDED.contract_id "
                f"WHERE memberships.state <> '{MemberState.MEMBER.value}'",
                constants={**shared, "state": ("text", MemberState.INVITED.value),
                           "invited_at": ("timestamptz", event.occurred_at)})


def on_invitation_closed(uow: UnitOfWork, event: Envelope, state: InvitationState | str) -> None:
    """Accepted, revoked or expired. Arriving before the invitation's creation
    (another queue, a redelivery), it records the invitation with its state;
    the creation then fills in the rest (on_invitations_created)."""
    p = event.payload
    with home.counted(uow, invitations=[p["invitation_id"]]):
        uow.session.execute(text(
            "INSERT INTO invitations (invitation_id, org_id, program_id, user_id, email, state, created_at, "
            "closed_at) VALUES (:id, :org, :program, :user, lower(:email), :state, :at, :at) "
            "ON CONFLICT (invitation_id) DO UPDATE SET state = EXCLUDED.state, closed_at = EXCLUDED.closed_at"),
            {"id": p["invitation_id"], "org": p["org_id"], "program": p["program_id"], "user": p.get("user_id"),
             "email": p.get("email"), "state": str(state), "at": event.occurred_at})


def on_invitation_resent(uow: UnitOfWork, event: Envelope) -> None:
    uow.session.execute(text(
        "UPDATE invitations SET last_sent_at = GREATEST(last_sent_at, :at) WHERE invitation_id = :id"),
        {"id": event.payload["invitation_id"], "at": event.occurred_at})
