"""People: an account's profile in one organization (created by invitations,
bulk imports and admin grants; edited by the organization's admins)."""
from sqlalchemy import select, text

from contracts.errors import AppError, ErrorCode
from contracts.identity import PROFILE_UPDATED, PROFILES_UPDATED, USER_REGISTERED, USERS_REGISTERED, RegisteredVia
from servicekit.bulk import insert_rows
from servicekit.db import UnitOfWork
from servicekit.models import new_id, normalize_email
from services.identity.models import Profile
from services.identity.queries import PROFILE_FIELDS, get_org, get_person, person_view


def _check_external_id(uow: UnitOfWork, org_id: str, user_id: str, external_id: str | None) -> None:
    if not external_id:
        return
    holder = uow.session.scalar(select(Profile.user_id).where(Profile.org_id == org_id,
                                                              Profile.external_id == external_id))
    if holder is not None and holder != user_id:
        raise AppError(ErrorCode.CONFLICT, "another person of this organization has this external id",
                       {"external_id": ["already used"]})


def update_person(uow: UnitOfWork, org_id: str, user_id: str, changes: dict) -> dict:
    """Change the organization's profile of a person. A `full_name` is the
    organization's own name for them: the account's name stays the person's."""
    user, profile = get_person(uow, org_id, user_id)
    before = person_view(user, profile)
    if "external_id" in changes:
        _check_external_id(uow, org_id, user_id, changes["external_id"])
    full_name = changes.pop("full_name", None)
    if full_name:
        profile.full_name = full_name.strip()
    for name, value in changes.items():
        setattr(profile, name, value)
    uow.session.flush()
    view = person_view(user, profile)
    previous = {name: before.get(name) for name in view if name != "previous" and before.get(name) != view[name]}
    uow.publish(PROFILE_UPDATED, {**view, "previous": previous}, org_id=org_id)
    return view


def ensure_person(uow: UnitOfWork, org_id: str, email: str, full_name: str, profile_fields: dict | None = None,
                  via: str = RegisteredVia.INVITATION, only_fill_empty: bool = False) -> dict:
    """The account for this email (created without a password if new) and its
    profile in the organization (created if missing; given fields set, or with
    `only_fill_empty` set only where the profile has no value yet)."""
    [answer], registered, changed = _ensure(uow, org_id, [{"email": email, "full_name": full_name,
                                                           **(profile_fields or {})}], only_fill_empty)
    if isinstance(answer, AppError):
        raise answer
    for user in registered:
        uow.publish(USER_REGISTERED, {**user, "via": via})
    for view in changed:
        uow.publish(PROFILE_UPDATED, view, org_id=org_id)
    return answer


def ensure_people(uow: UnitOfWork, org_id: str, people: list[dict],
                  only_fill_empty: bool = False) -> list[dict | AppError]:
    """ensure_person for many people at once (bulk invitations), in a handful
    of statements, announced by one identity.users.registered.v1 and one
    identity.profiles.updated.v1 event. Answers, in order, each person's view
    or the AppError refusing them; a refused person does not stop the others."""
    answers, registered, changed = _ensure(uow, org_id, people, only_fill_empty)
    if registered:
        uow.publish(USERS_REGISTERED, {"via": RegisteredVia.INVITATION, "users": registered})
    if changed:
        uow.publish(PROFILES_UPDATED, {"org_id": org_id, "people": changed}, org_id=org_id)
    return answers


def _ensure(uow: UnitOfWork, org_id: str, people: list[dict],
            only_fill_empty: bool = False) -> tuple[list[dict | AppError], list[dict], list[dict]]:
    """The set-based core of ensure_person(s). `people` are {email, full_name,
    profile fields...}; an email given twice is ensured once, from its first
    row. Returns (answers, accounts created, views of the profiles created or
    filled in). Safe against concurrent calls: accounts and profiles are
    inserted with ON CONFLICT, in a stable order (no deadlocks between batches)."""
    session = uow.session
    session.flush()  # the text statements below must see this unit's ORM changes
    get_org(uow, org_id)
    wanted: dict[str, tuple[str, dict]] = {}  # email -> (full name, non-empty profile fields)
    for person in people:
        email = normalize_email(person["email"])
        if email not in wanted:
            wanted[email] = (person["full_name"].strip(),
                             {k: person[k] for k in PROFILE_FIELDS if person.get(k) not in (None, "")})
    accounts = _accounts(uow, sorted(wanted))

    refused = _external_id_conflicts(uow, org_id, accounts, wanted)
    missing = sorted(email for email in wanted if email not in accounts and email not in refused)
    registered = []
    if missing:
        created = insert_rows(
            session, "users", {"id": "uuid", "email": "text", "full_name": "text"},
            [{"id": new_id(), "email": email, "full_name": wanted[email][0]} for email in missing],
            conflict="ON CONFLICT (email) DO NOTHING", returning="id::text AS user_id, email, full_name",
        ).mappings().all()
        registered = [dict(row) for row in created]
        accounts.update({row["email"]: row for row in registered})
        raced = [email for email in missing if email not in accounts]  # created meanwhile by another call
        accounts.update(_accounts(uow, raced))

    ensured = sorted((accounts[email]["user_id"], email) for email in wanted if email not in refused)
    profiles = {}
    if ensured:
        # invitations only fill empty fields: changing a value takes an org admin (update_person)
        first, second = ("profiles", "EXCLUDED") if only_fill_empty else ("EXCLUDED", "profiles")
        fill = ", ".join(f"{name} = coalesce({first}.{name}, {second}.{name})" for name in PROFILE_FIELDS)
        rows = insert_rows(
            session, "profiles", {"user_id": "uuid", **{name: "text" for name in PROFILE_FIELDS}},
            [{"user_id": user_id, **{name: wanted[email][1].get(name) for name in PROFILE_FIELDS}}
             for user_id, email in ensured],
            constants={"org_id": ("uuid", org_id)}, conflict=f"ON CONFLICT (org_id, user_id) DO UPDATE SET {fill}",
            returning=f"user_id::text AS user_id, full_name AS org_full_name, {', '.join(PROFILE_FIELDS)}, "
                      "(xmax = 0) AS created",
        ).mappings().all()
        profiles = {row["user_id"]: row for row in rows}

    views, changed = {}, []
    for email, (_, fields) in wanted.items():
        if email in refused:
            continue
        account = accounts[email]
        profile = profiles[account["user_id"]]
        views[email] = {"user_id": account["user_id"], "org_id": org_id, "email": email,
                        "full_name": profile["org_full_name"] or account["full_name"],
                        **{name: profile[name] for name in PROFILE_FIELDS}}
        if profile["created"] or fields:
            changed.append(views[email])
    answers = [refused.get(email) or views[email] for email in (normalize_email(p["email"]) for p in people)]
    return answers, registered, changed


def _accounts(uow: UnitOfWork, emails: list[str]) -> dict[str, dict]:
    if not emails:
        return {}
    rows = uow.session.execute(text(
        "SELECT id::text AS user_id, email, full_name FROM users WHERE email = ANY(CAST(:emails AS text[]))"),
        {"emails": emails}).mappings().all()
    return {row["email"]: dict(row) for row in rows}


def _external_id_conflicts(uow: UnitOfWork, org_id: str, accounts: dict, wanted: dict) -> dict[str, AppError]:
    """People whose external id another person of the organization holds
    (already, or earlier in this same list)."""
    asked = {fields["external_id"] for _, fields in wanted.values() if fields.get("external_id")}
    if not asked:
        return {}
    holders = dict(uow.session.execute(text(
        "SELECT external_id, user_id::text FROM profiles WHERE org_id = CAST(:org_id AS uuid) "
        "AND external_id = ANY(CAST(:ids AS text[]))"), {"org_id": org_id, "ids": sorted(asked)}).all())
    claimed: dict[str, str] = {}  # external id -> email claiming it in this list
    refused = {}
    for email, (_, fields) in wanted.items():
        external_id = fields.get("external_id")
        if not external_id:
            continue
        holder = holders.get(external_id)
        user_id = accounts.get(email, {}).get("user_id")
        if (holder is not None and holder != user_id) or claimed.get(external_id, email) != email:
            refused[email] = AppError(ErrorCode.CONFLICT, "another person of this organization has this external id",
                                      {"external_id": ["already used"]})
        else:
            claimed[external_id] = email
    return refused
