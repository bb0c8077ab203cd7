"""messaging's projection of the other services' facts, kept by their events:
upserts only, so replays and out-of-order arrivals converge."""
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert

from servicekit.bulk import insert_rows
from servicekit.db import UnitOfWork
from servicekit.models import normalize_email
from services.messaging.models import Enrollment, Invitation, Membership, Org, Program
from services.messaging.text import NAME_COLUMN, single_line, storable


def upsert_org(uow: UnitOfWork, org_id: str, values: dict) -> None:
    values = {k: storable(values.get(k)) for k in ("name", "brand_color", "logo_url")}
    if values["name"] is not None:
        values["name"] = single_line(values["name"], NAME_COLUMN)
    stmt = insert(Org).values(id=org_id, **values)
    uow.session.execute(stmt.on_conflict_do_update(index_elements=[Org.id], set_=values))


def person_seen(uow: UnitOfWork, org_id: str | None, user_id: str | None, email: str | None,
                full_name: str | None) -> None:
    if org_id:
        people_seen(uow, org_id, [{"user_id": user_id, "email": email, "full_name": full_name}])


def people_seen(uow: UnitOfWork, org_id: str, people: list[dict]) -> None:
    """Remember who these people ({user_id, email, full_name}) are in the organization."""
    rows = {p["user_id"]: {"user_id": p["user_id"], "email": normalize_email(p["email"]),
                           "full_name": single_line(p.get("full_name") or p["email"], NAME_COLUMN)}
            for p in people if p.get("user_id") and p.get("email")}
    if rows:
        insert_rows(uow.session, "people", {"user_id": "text", "email": "text", "full_name": "text"},
                    [rows[user_id] for user_id in sorted(rows)], constants={"org_id": ("text", org_id)},
                    conflict="ON CONFLICT (org_id, user_id) DO UPDATE SET email = EXCLUDED.email, "
                             "full_name = EXCLUDED.full_name")


def upsert_program(uow: UnitOfWork, p: dict, removed: bool = False) -> None:
    values = {"org_id": p["org_id"], "name": single_line(p["name"], NAME_COLUMN), "removed": removed}
    if p.get("join_url"):
        values["join_url"] = p["join_url"]
    stmt = insert(Program).values(id=p["program_id"], **values)
    uow.session.execute(stmt.on_conflict_do_update(index_elements=[Program.id], set_=values))


def set_membership(uow: UnitOfWork, p: dict, active: bool) -> None:
    values = {"org_id": p["org_id"], "contract_id": p.get("contract_id"), "active": active}
    stmt = insert(Membership).values(program_id=p["program_id"], user_id=p["user_id"], **values)
    uow.session.execute(stmt.on_conflict_do_update(index_elements=[Membership.program_id, Membership.user_id],
                                                   set_=values))


def upsert_invitation(uow: UnitOfWork, p: dict, pending: bool = True) -> None:
    upsert_invitations(uow, p, [p], pending)


def upsert_invitations(uow: UnitOfWork, common: dict, invitations: list[dict], pending: bool = True) -> None:
    """Remember invitations to one program: `common` holds org, program and
    contract, each item its invitation_id, user_id, email and full_name."""
    columns = {"id": "text", "user_id": "text", "email": "text", "full_name": "text"}
    shared = {"org_id": ("text", common["org_id"]), "program_id": ("text", common["program_id"]),
              "contract_id": ("text", common.get("contract_id")), "pending": ("boolean", pending)}
    fill = ", ".join(f"{name} = EXCLUDED.{name}" for name in [*shared, *columns] if name != "id")
    insert_rows(uow.session, "invitations", columns, sorted((
        {"id": i["invitation_id"], "user_id": i.get("user_id"), "email": normalize_email(i["email"]),
         "full_name": single_line(i.get("full_name"), NAME_COLUMN) or None} for i in invitations),
        key=lambda row: row["id"]),
        constants=shared, conflict=f"ON CONFLICT (id) DO UPDATE SET {fill}")


def close_invitation(uow: UnitOfWork, invitation_id: str) -> None:
    uow.session.execute(update(Invitation).where(Invitation.id == invitation_id).values(pending=False))


def upsert_enrollment(uow: UnitOfWork, p: dict) -> None:
    values = {"org_id": p["org_id"], "program_id": p["program_id"], "user_id": p["user_id"],
              "course_id": p.get("course_id"), "specialization_id": p.get("specialization_id"), "active": True}
    stmt = insert(Enrollment).values(id=p["enrollment_id"], **values)
    uow.session.execute(stmt.on_conflict_do_update(index_elements=[Enrollment.id], set_=values))

