"""SCIM 2.0 provisioning of one organization's people and groups
(docs/scim.md). The organization comes from the caller's API token, never from
the request: every read and write here is filtered by it, and acts on the
organization's profile and SCIM rows only, never on the account's standing
elsewhere (its email, password, name, other organizations).

Each write answers the resource. When it changes what a person is entitled to
in the organization (active or not, verified, the programs their groups map
to), the same transaction publishes the person's whole entitlement state with
a version one above the last (identity.scim.entitlements_changed.v1, through
the outbox): programs joins and removes, invitations invites and revokes, each
applying a version once and never an older one after a newer (docs/scim.md,
"How the effects flow")."""
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert

from contracts.errors import AppError, ErrorCode, not_found
from contracts.identity import PROFILE_UPDATED, USER_EMAIL_VERIFIED, RegisteredVia
from contracts.scim import (
    CORE_GROUP,
    CORE_USER,
    ENTERPRISE_USER,
    SCIM_ENTITLEMENTS_CHANGED,
    SCIM_GROUP_CHANGED,
    SCIM_GROUP_MAPPING_CHANGED,
    SCIM_USER_CHANGED,
    GroupChange,
    MappingChange,
    ScimType,
    UserChange,
)
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from servicekit.models import normalize_email, parse_uuid
from services.identity.commands import accounts, profiles
from services.identity.models import (
    Organization,
    Profile,
    ScimEntitlementState,
    ScimGroup,
    ScimGroupMapping,
    ScimGroupMember,
    ScimUser,
    User,
)
from services.identity.queries import get_org, person_view
from services.identity.scim import filters
from services.identity.scim.resources import (
    LEARNADMIN_USER,
    PROFILE_COLUMNS,
    apply_patch,
    extract_group,
    extract_user,
    scim_error,
)
from services.identity.sso.linking import verified_domain


def etag(version: int) -> str:
    return f'W/"{version}"'


def precondition_failed(version: int) -> AppError:
    return AppError(ErrorCode.PRECONDITION_FAILED, "the resource has changed since that version (If-Match)",
                    {"version": [etag(version)]})


# ---------------------------------------------------------------- users: reading


def _meta(resource_type: str, created: datetime, updated: datetime, version: int) -> dict:
    return {"resourceType": resource_type, "created": created.isoformat(), "lastModified": updated.isoformat(),
            "version": etag(version)}


def user_resource(user: User, profile: Profile, scim: ScimUser, groups: list[tuple[str, str]]) -> dict:
    """The User resource (the gateway adds meta.location)."""
    full_name = profile.full_name or user.full_name
    resource = {
        "schemas": [CORE_USER, ENTERPRISE_USER, LEARNADMIN_USER],
        "id": user.id,
        "externalId": profile.external_id,
        "userName": scim.user_name,
        "name": {k: v for k, v in (("formatted", full_name), ("givenName", scim.given_name),
                                   ("familyName", scim.family_name)) if v},
        "displayName": scim.display_name or full_name,
        "active": scim.active,
        "emails": [{"value": user.email, "type": "work", "primary": True}],
        "title": profile.job_title,
        "userType": profile.job_type,
        "groups": [{"value": group_id, "display": name, "type": "direct"} for group_id, name in groups],
        ENTERPRISE_USER: {k: v for k, v in (("department", profile.business_unit),
                                            ("division", profile.business_unit_2)) if v},
        LEARNADMIN_USER: {"managerEmail": profile.manager_email} if profile.manager_email else {},
        "meta": _meta("User", scim.created_at, scim.updated_at, scim.version),
    }
    address = {k: v for k, v in (("locality", profile.location_city), ("region", profile.location_region),
                                 ("country", profile.location_country)) if v}
    if address:
        resource["addresses"] = [{**address, "type": "work", "primary": True}]
    if scim.manager_id or profile.manager_name:
        resource[ENTERPRISE_USER]["manager"] = {k: v for k, v in (("value", scim.manager_id),
                                                                   ("displayName", profile.manager_name)) if v}
    return {k: v for k, v in resource.items() if v is not None}


def _groups_of(uow: UnitOfWork, org_id: str, user_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {user_id: [] for user_id in user_ids}
    if not user_ids:
        return found
    rows = uow.session.execute(
        select(ScimGroupMember.user_id, ScimGroup.id, ScimGroup.display_name)
        .join(ScimGroup, ScimGroup.id == ScimGroupMember.group_id)
        .where(ScimGroup.org_id == org_id, ScimGroupMember.user_id.in_(user_ids))
        .order_by(ScimGroup.display_name)).all()
    for user_id, group_id, name in rows:
        found[user_id].append((group_id, name))
    return found


def _load_user(uow: UnitOfWork, org_id: str, user_id: str, lock: bool = False) -> tuple[User, Profile, ScimUser]:
    user_id = parse_uuid(user_id)
    if user_id is None:
        raise not_found("user")
    query = select(ScimUser).where(ScimUser.org_id == org_id, ScimUser.user_id == user_id)
    scim = uow.session.scalar(query.with_for_update() if lock else query)
    if scim is None:
        raise not_found("user")
    return uow.session.get(User, user_id), uow.session.get(Profile, (org_id, user_id)), scim


def get_user(uow: UnitOfWork, org_id: str, user_id: str) -> dict:
    user, profile, scim = _load_user(uow, org_id, user_id)
    return user_resource(user, profile, scim, _groups_of(uow, org_id, [user.id])[user.id])


USER_FILTER_COLUMNS = {
    "id": (ScimUser.user_id, "cs"),
    "username": (ScimUser.user_name_key, "lc"),
    "externalid": (Profile.external_id, "cs"),
    "active": (ScimUser.active, "bool"),
    "displayname": (func.coalesce(ScimUser.display_name, Profile.full_name, User.full_name), "ci"),
    "name.givenname": (ScimUser.given_name, "ci"),
    "name.familyname": (ScimUser.family_name, "ci"),
    "name.formatted": (func.coalesce(Profile.full_name, User.full_name), "ci"),
    "emails": (User.email, "ci"),
    "emails.value": (User.email, "ci"),
    "emails.type": ("work", "constant"),
    "emails.primary": (True, "constant"),
    "title": (Profile.job_title, "ci"),
    "usertype": (Profile.job_type, "ci"),
    f"{ENTERPRISE_USER.lower()}:department": (Profile.business_unit, "ci"),
    f"{ENTERPRISE_USER.lower()}:division": (Profile.business_unit_2, "ci"),
    "meta.created": (ScimUser.created_at, "datetime"),
    "meta.lastmodified": (ScimUser.updated_at, "datetime"),
}


def list_users(uow: UnitOfWork, org_id: str, filter_text: str | None, start_index: int, count: int) -> dict:
    """A page of the organization's SCIM users (RFC 7644 3.4.2): `startIndex`
    1-based, ordered by creation (then id) so that pages are stable."""
    get_org(uow, org_id)
    query = (select(User, Profile, ScimUser)
             .join(Profile, (Profile.user_id == ScimUser.user_id) & (Profile.org_id == ScimUser.org_id))
             .join(User, User.id == ScimUser.user_id)
             .where(ScimUser.org_id == org_id))
    if filter_text:
        query = query.where(filters.condition(filter_text, USER_FILTER_COLUMNS))
    total = uow.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = uow.session.execute(query.order_by(ScimUser.created_at, ScimUser.user_id)
                               .offset(start_index - 1).limit(count)).all() if count > 0 else []
    groups = _groups_of(uow, org_id, [user.id for user, _, _ in rows])
    return {"total": total, "resources": [user_resource(u, p, s, groups[u.id]) for u, p, s in rows]}


# ---------------------------------------------------------------- users: writing


def _vouch(uow: UnitOfWork, org_id: str, user: User) -> None:
    """The trust rule as single sign-on has it (docs/sso.md, "Linking"): an address in a domain this
    organization verified is the organization's to vouch for. An unverified account there becomes verified
    (a password chosen before the address was proven is forgotten first), so its group joins happen at once;
    any other unverified account stays unverified and is invited instead (docs/scim.md, "Trust")."""
    if not user.email_verified and verified_domain(uow, org_id, user.email):
        user.distrust_unverified_password()
        accounts.mark_verified(uow, user, publishing_org=org_id)  # this change publishes this org's state itself


def _entitlements(uow: UnitOfWork, org_id: str, user_ids: list[str]) -> dict[str, dict[str, str]]:
    """user id -> {program id: contract id}, from the mappings of each user's groups (the first mapping by name
    wins). One query for all of them."""
    found: dict[str, dict[str, str]] = {user_id: {} for user_id in user_ids}
    if not user_ids:
        return found
    rows = uow.session.execute(
        select(ScimGroupMember.user_id, ScimGroupMapping.program_id, ScimGroupMapping.contract_id)
        .join(ScimGroup, (ScimGroup.org_id == ScimGroupMapping.org_id)
              & (func.lower(ScimGroup.display_name) == func.lower(ScimGroupMapping.display_name)))
        .join(ScimGroupMember, ScimGroupMember.group_id == ScimGroup.id)
        .where(ScimGroupMapping.org_id == org_id, ScimGroupMember.user_id.in_(user_ids))
        .order_by(ScimGroupMember.user_id, func.lower(ScimGroupMapping.display_name))).all()
    for user_id, program_id, contract_id in rows:
        found[user_id].setdefault(program_id, contract_id)
    return found


def _desired(user: User, scim: ScimUser | None, programs: dict[str, str]) -> dict:
    """What the person is entitled to now (the part of the state whose change is announced)."""
    active = scim is not None and scim.active
    return {"active": active, "verified": bool(user.email_verified),
            "programs": [{"program_id": p, "contract_id": c} for p, c in sorted(programs.items())] if active else []}


def publish_entitlements(uow: UnitOfWork, org_id: str, user_ids, force: bool = False) -> int:
    """After a SCIM change: for each person whose entitlement state differs from the last one published (or
    every one, `force`), the whole state with the next version, in this transaction (the outbox). Each
    person's state row is locked first (in user id order: no deadlock between two group changes), and the
    state read after it: two concurrent changes of one person get versions in the order they commit, and the
    later one's state includes the earlier's. Set-based (a mapping set for a group of thousands is a handful of
    statements). Returns how many events were published."""
    user_ids = sorted({u for u in user_ids if u})
    if not user_ids:
        return 0
    uow.session.flush()
    uow.session.execute(insert(ScimEntitlementState).values(
        [{"org_id": org_id, "user_id": u, "version": 0} for u in user_ids]).on_conflict_do_nothing())
    states = {row.user_id: row for row in uow.session.scalars(
        select(ScimEntitlementState).where(ScimEntitlementState.org_id == org_id,
                                           ScimEntitlementState.user_id.in_(user_ids))
        .order_by(ScimEntitlementState.user_id).with_for_update().execution_options(populate_existing=True))}
    people = uow.session.execute(
        select(User, Profile, ScimUser)
        .join(Profile, (Profile.user_id == User.id) & (Profile.org_id == org_id))
        .outerjoin(ScimUser, (ScimUser.user_id == User.id) & (ScimUser.org_id == org_id))
        .where(User.id.in_(user_ids)).order_by(User.id)
        .execution_options(populate_existing=True)).all()  # as committed by whoever held the locks before
    entitled = _entitlements(uow, org_id, [user.id for user, _, scim in people if scim is not None and scim.active])
    org = uow.session.get(Organization, org_id)
    notify_exit = True if org is None else bool(org.deprovision_exit_email)
    now, events = utcnow(), []
    for user, profile, scim in people:
        row = states[user.id]
        desired = _desired(user, scim, entitled.get(user.id, {}))
        if not force and (row.state == desired or (row.state is None and desired["active"]
                                                   and not desired["programs"])):
            continue  # unchanged; or a new person entitled to nothing: nothing for anyone to do
        row.version += 1
        row.state = desired
        row.updated_at = now
        events.append(({"org_id": org_id, "user_id": user.id, "version": row.version, "email": user.email,
                        "full_name": profile.full_name or user.full_name, "notify_exit": notify_exit, **desired},
                       org_id))
    uow.publish_many(SCIM_ENTITLEMENTS_CHANGED, events)
    uow.session.flush()
    return len(events)


def accounts_verified(uow: UnitOfWork, user_ids, except_org: str | None = None) -> int:
    """Accounts became verified outside SCIM (an address proven by its emailed link or an invitation, single
    sign-on, a domain the organization verified): their entitlement state, `verified` now, published in this
    transaction in every organization where they are SCIM users with a state (docs/scim.md, "Trust"); a SCIM
    user without one was never entitled to anything. `except_org`: the SCIM change under way there publishes
    it. Set-based: one query, then one publish_entitlements per organization. Returns how many were published."""
    user_ids = sorted({u for u in user_ids if u})
    if not user_ids:
        return 0
    query = (select(ScimUser.org_id, ScimUser.user_id)
             .join(ScimEntitlementState, (ScimEntitlementState.org_id == ScimUser.org_id)
                   & (ScimEntitlementState.user_id == ScimUser.user_id))
             .where(ScimUser.user_id.in_(user_ids)))
    if except_org is not None:
        query = query.where(ScimUser.org_id != except_org)
    by_org: dict[str, list[str]] = {}
    for org_id, user_id in uow.session.execute(query.order_by(ScimUser.org_id, ScimUser.user_id)):
        by_org.setdefault(org_id, []).append(user_id)
    return sum(publish_entitlements(uow, org_id, people) for org_id, people in by_org.items())


def domain_verified(uow: UnitOfWork, org_id: str, domain: str) -> int:
    """The organization verified `domain` (by DNS or the operator's command): it vouches for the addresses there
    (the trust rule `_vouch` applies at a SCIM change), now rather than at each person's next SCIM change. Its
    SCIM users with an unverified account in the domain are marked verified (a password chosen before the
    address was proven forgotten, identity.user.email_verified.v1 each) and their entitlement states published
    in this transaction, here and in any other organization that provisioned them (accounts_verified): they
    join their groups' programs at once. Set-based: a domain may hold thousands of people. Returns how many
    accounts it verified."""
    now = utcnow()
    suffix = "@" + domain  # the part after the last "@" is the domain (linking.domain_of): emails are normalized
    provisioned_here = select(ScimUser.user_id).where(ScimUser.org_id == org_id, ScimUser.user_id == User.id).exists()
    rows = uow.session.execute(
        User.__table__.update()
        .where(User.__table__.c.email_verified_at.is_(None), provisioned_here,
               func.right(User.__table__.c.email, len(suffix)) == suffix)
        .values(email_verified_at=now, password_hash=None)
        .returning(User.__table__.c.id, User.__table__.c.email)).all()
    if not rows:
        return 0
    uow.publish_many(USER_EMAIL_VERIFIED, [({"user_id": user_id, "email": email}, None) for user_id, email in rows])
    accounts_verified(uow, [user_id for user_id, _ in rows])  # here and wherever else SCIM provisioned them
    return len(rows)


def _check_user_name(uow: UnitOfWork, org_id: str, user_id: str | None, user_name: str) -> None:
    holder = uow.session.scalar(select(ScimUser.user_id).where(ScimUser.org_id == org_id,
                                                               ScimUser.user_name_key == user_name.lower()))
    if holder is not None and holder != user_id:
        raise scim_error(ScimType.UNIQUENESS, "another user of this organization has this userName", "userName",
                         code=ErrorCode.CONFLICT)


def _manager_email(uow: UnitOfWork, org_id: str, fields: dict) -> str | None:
    """managerEmail as given; else the email of the manager the enterprise extension names by id (a user of this
    organization) or by an address."""
    if fields.get("manager_email"):
        return fields["manager_email"]
    manager = fields.get("manager_id")
    if not manager:
        return None
    if "@" in manager:
        return normalize_email(manager)
    manager_id = parse_uuid(manager)
    if manager_id is None:
        return None
    return uow.session.scalar(select(User.email).join(ScimUser, ScimUser.user_id == User.id)
                              .where(ScimUser.org_id == org_id, ScimUser.user_id == manager_id))


def _profile_values(uow: UnitOfWork, org_id: str, fields: dict) -> dict:
    values = {name: fields.get(name) for name in PROFILE_COLUMNS}
    values["manager_email"] = _manager_email(uow, org_id, fields)
    return values


def create_user(uow: UnitOfWork, org_id: str, resource) -> dict:
    """POST /Users: the account (created without a password if the address is
    new; an existing account is linked, never changed) and its profile in the
    organization, with the SCIM row. A userName or person already provisioned
    here is 409 uniqueness."""
    fields = extract_user(resource)
    get_org(uow, org_id)
    if not fields["email"]:
        raise scim_error(ScimType.INVALID_VALUE, "an email (emails, or a userName that is an address) is required",
                         "emails")
    _check_user_name(uow, org_id, None, fields["user_name"])
    profile_values = _profile_values(uow, org_id, fields)
    try:
        view = profiles.ensure_person(uow, org_id, fields["email"], fields["full_name"] or fields["email"],
                                      {k: v for k, v in profile_values.items() if v}, via=RegisteredVia.SCIM)
    except AppError as exc:
        if exc.code == ErrorCode.CONFLICT:  # the external id is another person's
            raise scim_error(ScimType.UNIQUENESS, exc.message, "externalId", code=ErrorCode.CONFLICT) from None
        raise
    user_id = view["user_id"]
    now = utcnow()
    inserted = uow.session.execute(
        insert(ScimUser).values(org_id=org_id, user_id=user_id, user_name=fields["user_name"],
                                user_name_key=fields["user_name"].lower(), active=fields["active"],
                                given_name=fields["given_name"], family_name=fields["family_name"],
                                display_name=fields["display_name"], manager_id=fields["manager_id"],
                                created_at=now, updated_at=now)
        .on_conflict_do_nothing().returning(ScimUser.user_id)).scalar()
    if inserted is None:
        raise scim_error(ScimType.UNIQUENESS, "this person (or this userName) is already provisioned in this "
                         "organization", "userName", code=ErrorCode.CONFLICT)
    user, profile, scim = _load_user(uow, org_id, user_id)
    _vouch(uow, org_id, user)
    if fields["full_name"] and profile.full_name != fields["full_name"] and fields["full_name"] != user.full_name:
        before = person_view(user, profile)
        profile.full_name = fields["full_name"]  # the organization's name for the person; the account's stays
        _profile_changed(uow, user, profile, before)
    uow.session.flush()
    uow.publish(SCIM_USER_CHANGED, _user_event(user, scim, UserChange.PROVISIONED, ["userName", "active"]),
                org_id=org_id)
    if uow.session.get(ScimEntitlementState, (org_id, user.id)) is not None:
        # provisioned before (then deleted): its state continues; a first provisioning, in no group yet (no other
        # transaction can see the new SCIM user), is entitled to nothing and publishes nothing, writes nothing
        publish_entitlements(uow, org_id, [user.id])
    return {"resource": user_resource(user, profile, scim, [])}


def _user_event(user: User, scim: ScimUser, change: str, changed: list[str]) -> dict:
    return {"org_id": scim.org_id, "user_id": user.id, "email": user.email, "user_name": scim.user_name,
            "change": change, "active": scim.active, "changed": sorted(changed)}


def _profile_changed(uow: UnitOfWork, user: User, profile: Profile, before: dict) -> None:
    uow.session.flush()
    view = person_view(user, profile)
    previous = {name: before.get(name) for name in view if before.get(name) != view[name]}
    if previous:
        uow.publish(PROFILE_UPDATED, {**view, "previous": previous}, org_id=profile.org_id)


def replace_user(uow: UnitOfWork, org_id: str, user_id: str, resource, if_match: str | None = None) -> dict:
    """PUT /Users/{id}: every mapped attribute set as given (absent ones emptied)."""
    user, profile, scim = _load_user(uow, org_id, user_id, lock=True)
    if if_match is not None:
        _check_if_match(scim.version, if_match)
    return _apply(uow, org_id, user, profile, scim, extract_user(resource))


def patch_user(uow: UnitOfWork, org_id: str, user_id: str, body, if_match: str | None = None) -> dict:
    """PATCH /Users/{id}: the operations applied to the current resource, then stored as a PUT of the result."""
    user, profile, scim = _load_user(uow, org_id, user_id, lock=True)
    if if_match is not None:
        _check_if_match(scim.version, if_match)
    current = user_resource(user, profile, scim, [])
    return _apply(uow, org_id, user, profile, scim, extract_user(apply_patch(current, body)))


def _check_if_match(version: int, if_match: str) -> None:
    given = {tag.strip() for tag in str(if_match).split(",")}
    if not ("*" in given or etag(version) in given or f'"{version}"' in given):
        raise precondition_failed(version)


def _apply(uow: UnitOfWork, org_id: str, user: User, profile: Profile, scim: ScimUser, fields: dict) -> dict:
    if fields["emails_given"] and fields["email"] and normalize_email(fields["email"]) != user.email:
        raise scim_error(ScimType.MUTABILITY, "the email is the account's own (an account may belong to several "
                         "organizations): it cannot be changed by SCIM; provision a new user for a new address",
                         "emails")
    if fields["user_name"] != scim.user_name:
        _check_user_name(uow, org_id, user.id, fields["user_name"])
    if fields["external_id"] and fields["external_id"] != profile.external_id:
        profiles_conflict = uow.session.scalar(select(Profile.user_id).where(
            Profile.org_id == org_id, Profile.external_id == fields["external_id"], Profile.user_id != user.id))
        if profiles_conflict is not None:
            raise scim_error(ScimType.UNIQUENESS, "another person of this organization has this externalId",
                             "externalId", code=ErrorCode.CONFLICT)
    _vouch(uow, org_id, user)  # a domain verified since the user was provisioned
    before_profile = person_view(user, profile)
    was_active = scim.active
    changed = []
    for attr, column in (("user_name", "userName"), ("given_name", "name"), ("family_name", "name"),
                         ("display_name", "displayName"), ("manager_id", "manager"), ("active", "active")):
        if getattr(scim, attr) != fields[attr]:
            setattr(scim, attr, fields[attr])
            changed.append(column)
    scim.user_name_key = scim.user_name.lower()
    values = _profile_values(uow, org_id, fields)
    for name in PROFILE_COLUMNS:
        if getattr(profile, name) != values[name]:
            setattr(profile, name, values[name])
    org_name = fields["full_name"] if fields["full_name"] and fields["full_name"] != user.full_name else None
    if profile.full_name != org_name:
        profile.full_name = org_name
    _profile_changed(uow, user, profile, before_profile)
    profile_changed = person_view(user, profile) != before_profile
    if changed or profile_changed:
        scim.version += 1
        scim.updated_at = utcnow()
        change = UserChange.UPDATED
        if was_active and not scim.active:
            change = UserChange.DEPROVISIONED
        elif scim.active and not was_active:
            change = UserChange.REACTIVATED
        uow.session.flush()
        uow.publish(SCIM_USER_CHANGED, _user_event(user, scim, change, sorted(set(changed))), org_id=org_id)
    # Deprovisioning empties the state; reactivation restores the programs the person's groups map to (only those).
    publish_entitlements(uow, org_id, [user.id])
    return {"resource": user_resource(user, profile, scim, _groups_of(uow, org_id, [user.id])[user.id])}


def delete_user(uow: UnitOfWork, org_id: str, user_id: str) -> dict:
    """DELETE /Users/{id}: deprovisioned (the entitlement state published with it is inactive: programs
    removes the person from every program of the organization) and no longer a SCIM resource; the
    account and the organization's profile stay (reports keep the history)."""
    user, profile, scim = _load_user(uow, org_id, user_id, lock=True)
    group_ids = list(uow.session.scalars(
        select(ScimGroupMember.group_id).join(ScimGroup, ScimGroup.id == ScimGroupMember.group_id)
        .where(ScimGroup.org_id == org_id, ScimGroupMember.user_id == user.id)))
    if group_ids:
        uow.session.execute(delete(ScimGroupMember).where(ScimGroupMember.user_id == user.id,
                                                          ScimGroupMember.group_id.in_(group_ids)))
        uow.session.execute(ScimGroup.__table__.update().where(ScimGroup.id.in_(group_ids))
                            .values(version=ScimGroup.version + 1, updated_at=utcnow()))
    event = _user_event(user, scim, UserChange.DELETED, ["active"])
    event["active"] = False
    uow.session.delete(scim)
    uow.session.flush()
    uow.publish(SCIM_USER_CHANGED, event, org_id=org_id)
    publish_entitlements(uow, org_id, [user.id], force=True)  # a retried deprovisioning is redone too
    return {"user_id": user.id}


# ---------------------------------------------------------------- groups


def group_resource(group: ScimGroup, members: list[tuple[str, str]]) -> dict:
    resource = {"schemas": [CORE_GROUP], "id": group.id, "displayName": group.display_name,
                "members": [{"value": user_id, "display": name, "type": "User"} for user_id, name in members],
                "meta": _meta("Group", group.created_at, group.updated_at, group.version)}
    if group.external_id:
        resource["externalId"] = group.external_id
    return resource


def _members(uow: UnitOfWork, group_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {group_id: [] for group_id in group_ids}
    if not group_ids:
        return found
    rows = uow.session.execute(
        select(ScimGroupMember.group_id, ScimGroupMember.user_id, ScimUser.user_name)
        .join(ScimGroup, ScimGroup.id == ScimGroupMember.group_id)
        .join(ScimUser, (ScimUser.user_id == ScimGroupMember.user_id) & (ScimUser.org_id == ScimGroup.org_id))
        .where(ScimGroupMember.group_id.in_(group_ids)).order_by(ScimUser.user_name)).all()
    for group_id, user_id, user_name in rows:
        found[group_id].append((user_id, user_name))
    return found


def _load_group(uow: UnitOfWork, org_id: str, group_id: str, lock: bool = False) -> ScimGroup:
    group_id = parse_uuid(group_id)
    query = select(ScimGroup).where(ScimGroup.org_id == org_id, ScimGroup.id == group_id)
    group = uow.session.scalar(query.with_for_update() if lock else query) if group_id else None
    if group is None:
        raise not_found("group")
    return group


def get_group(uow: UnitOfWork, org_id: str, group_id: str, members: bool = True) -> dict:
    group = _load_group(uow, org_id, group_id)
    return group_resource(group, _members(uow, [group.id])[group.id] if members else [])


GROUP_FILTER_COLUMNS = {
    "id": (ScimGroup.id, "cs"),
    "displayname": (ScimGroup.display_name, "ci"),
    "externalid": (ScimGroup.external_id, "cs"),
    "meta.created": (ScimGroup.created_at, "datetime"),
    "meta.lastmodified": (ScimGroup.updated_at, "datetime"),
}


def list_groups(uow: UnitOfWork, org_id: str, filter_text: str | None, start_index: int, count: int,
                members: bool = True) -> dict:
    get_org(uow, org_id)
    query = select(ScimGroup).where(ScimGroup.org_id == org_id)
    if filter_text:
        query = query.where(filters.condition(filter_text, GROUP_FILTER_COLUMNS))
    total = uow.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    groups = list(uow.session.scalars(query.order_by(ScimGroup.created_at, ScimGroup.id)
                                      .offset(start_index - 1).limit(count))) if count > 0 else []
    found = _members(uow, [g.id for g in groups]) if members else {g.id: [] for g in groups}
    return {"total": total, "resources": [group_resource(g, found[g.id]) for g in groups]}


def _check_members(uow: UnitOfWork, org_id: str, user_ids: list[str]) -> None:
    """Members are users this organization's SCIM provisioned: anything else (another organization's user
    included) is the same 400, which says nothing about other organizations."""
    valid = [u for u in user_ids if parse_uuid(u)]
    known = set(uow.session.scalars(select(ScimUser.user_id).where(
        ScimUser.org_id == org_id, ScimUser.user_id.in_(valid)))) if valid else set()
    unknown = [u for u in user_ids if u not in known]
    if unknown:
        raise scim_error(ScimType.INVALID_VALUE, f"members that are not users of this organization: "
                         f"{', '.join(u[:64] for u in unknown[:5])}", "members")


def _group_effects(uow: UnitOfWork, org_id: str, user_ids: set[str]) -> None:
    """The affected members' entitlement states (a domain verified since they were provisioned counts now)."""
    if not user_ids:
        return
    for user in uow.session.scalars(select(User).where(User.id.in_(sorted(user_ids)))):
        _vouch(uow, org_id, user)
    publish_entitlements(uow, org_id, user_ids)


def _set_members(uow: UnitOfWork, group: ScimGroup, wanted: list[str]) -> tuple[list[str], list[str]]:
    current = set(uow.session.scalars(select(ScimGroupMember.user_id).where(ScimGroupMember.group_id == group.id)))
    added = [u for u in wanted if u not in current]
    removed = sorted(current - set(wanted))
    if removed:
        uow.session.execute(delete(ScimGroupMember).where(ScimGroupMember.group_id == group.id,
                                                          ScimGroupMember.user_id.in_(removed)))
    if added:
        uow.session.execute(insert(ScimGroupMember).values([{"group_id": group.id, "user_id": u} for u in added])
                            .on_conflict_do_nothing())
    return added, removed


def _check_group_name(uow: UnitOfWork, org_id: str, group_id: str | None, name: str) -> None:
    holder = uow.session.scalar(select(ScimGroup.id).where(ScimGroup.org_id == org_id,
                                                           func.lower(ScimGroup.display_name) == name.lower()))
    if holder is not None and holder != group_id:
        raise scim_error(ScimType.UNIQUENESS, "another group of this organization has this displayName",
                         "displayName", code=ErrorCode.CONFLICT)


def create_group(uow: UnitOfWork, org_id: str, resource) -> dict:
    fields = extract_group(resource)
    get_org(uow, org_id)
    _check_group_name(uow, org_id, None, fields["display_name"])
    _check_members(uow, org_id, fields["members"])
    affected = set(fields["members"])
    now = utcnow()
    group_id = uow.session.execute(
        insert(ScimGroup).values(org_id=org_id, display_name=fields["display_name"],
                                 external_id=fields["external_id"], created_at=now, updated_at=now)
        .on_conflict_do_nothing().returning(ScimGroup.id)).scalar()
    if group_id is None:
        raise scim_error(ScimType.UNIQUENESS, "another group of this organization has this displayName",
                         "displayName", code=ErrorCode.CONFLICT)
    group = uow.session.get(ScimGroup, group_id)
    added, _ = _set_members(uow, group, fields["members"])
    uow.session.flush()
    uow.publish(SCIM_GROUP_CHANGED, {"org_id": org_id, "group_id": group.id, "display_name": group.display_name,
                                     "change": GroupChange.CREATED, "added": added, "removed": []}, org_id=org_id)
    _group_effects(uow, org_id, affected)
    return {"resource": get_group(uow, org_id, group.id)}


def replace_group(uow: UnitOfWork, org_id: str, group_id: str, resource, if_match: str | None = None) -> dict:
    group = _load_group(uow, org_id, group_id, lock=True)
    if if_match is not None:
        _check_if_match(group.version, if_match)
    return _apply_group(uow, org_id, group, extract_group(resource))


def patch_group(uow: UnitOfWork, org_id: str, group_id: str, body, if_match: str | None = None) -> dict:
    group = _load_group(uow, org_id, group_id, lock=True)
    if if_match is not None:
        _check_if_match(group.version, if_match)
    current = get_group(uow, org_id, group.id)
    current["members"] = [{"value": m["value"]} for m in current["members"]]
    return _apply_group(uow, org_id, group, extract_group(apply_patch(current, body)))


def _apply_group(uow: UnitOfWork, org_id: str, group: ScimGroup, fields: dict) -> dict:
    if fields["display_name"] != group.display_name:
        _check_group_name(uow, org_id, group.id, fields["display_name"])
    _check_members(uow, org_id, fields["members"])
    current = set(uow.session.scalars(select(ScimGroupMember.user_id).where(ScimGroupMember.group_id == group.id)))
    renamed = fields["display_name"].lower() != group.display_name.lower()
    affected = (current | set(fields["members"])) if renamed else (current ^ set(fields["members"]))
    changed = fields["display_name"] != group.display_name or fields["external_id"] != group.external_id
    group.display_name, group.external_id = fields["display_name"], fields["external_id"]
    added, removed = _set_members(uow, group, fields["members"])
    if changed or added or removed:
        group.version += 1
        group.updated_at = utcnow()
        uow.session.flush()
        uow.publish(SCIM_GROUP_CHANGED, {"org_id": org_id, "group_id": group.id, "display_name": group.display_name,
                                         "change": GroupChange.UPDATED, "added": added, "removed": removed},
                    org_id=org_id)
    uow.session.flush()
    _group_effects(uow, org_id, affected)
    return {"resource": get_group(uow, org_id, group.id)}


def delete_group(uow: UnitOfWork, org_id: str, group_id: str) -> dict:
    group = _load_group(uow, org_id, group_id, lock=True)
    members = set(uow.session.scalars(select(ScimGroupMember.user_id).where(ScimGroupMember.group_id == group.id)))
    event = {"org_id": org_id, "group_id": group.id, "display_name": group.display_name,
             "change": GroupChange.DELETED, "added": [], "removed": sorted(members)}
    uow.session.execute(delete(ScimGroupMember).where(ScimGroupMember.group_id == group.id))
    uow.session.delete(group)
    uow.session.flush()
    uow.publish(SCIM_GROUP_CHANGED, event, org_id=org_id)
    _group_effects(uow, org_id, members)
    return {"group_id": event["group_id"]}


# ---------------------------------------------------------------- group mappings (org admins)


def mapping_view(mapping: ScimGroupMapping) -> dict:
    return {"id": mapping.id, "display_name": mapping.display_name, "program_id": mapping.program_id,
            "contract_id": mapping.contract_id, "created_by": mapping.created_by, "created_at": mapping.created_at}


def list_group_mappings(uow: UnitOfWork, org_id: str) -> list[dict]:
    get_org(uow, org_id)
    rows = uow.session.scalars(select(ScimGroupMapping).where(ScimGroupMapping.org_id == org_id)
                               .order_by(func.lower(ScimGroupMapping.display_name)))
    return [mapping_view(m) for m in rows]


def set_group_mapping(uow: UnitOfWork, org_id: str, display_name: str, program_id: str, contract_id: str,
                      created_by: str | None) -> dict:
    """Members of the group named `display_name` join `program_id` on `contract_id`'s licenses (the gateway has
    checked that the program takes that contract). Replaces the mapping of that name. The group's members'
    entitlement states are published again, every one (`force`): they join now, and setting a mapping again is
    how an admin has refused joins retried after adding licenses (docs/scim.md)."""
    get_org(uow, org_id)
    mapping = uow.session.scalar(select(ScimGroupMapping).where(
        ScimGroupMapping.org_id == org_id, func.lower(ScimGroupMapping.display_name) == display_name.lower())
        .with_for_update())
    if mapping is None:
        mapping = ScimGroupMapping(org_id=org_id, display_name=display_name)
        uow.session.add(mapping)
    mapping.display_name, mapping.program_id, mapping.contract_id = display_name, program_id, contract_id
    mapping.created_by = created_by
    uow.session.flush()
    uow.publish(SCIM_GROUP_MAPPING_CHANGED, {**_mapping_event(mapping), "change": MappingChange.SET}, org_id=org_id)
    publish_entitlements(uow, org_id, _members_named(uow, org_id, display_name), force=True)
    return mapping_view(mapping)


def _members_named(uow: UnitOfWork, org_id: str, display_name: str) -> list[str]:
    """The members of the organization's group of this name (names compare case-insensitively)."""
    return list(uow.session.scalars(
        select(ScimGroupMember.user_id).join(ScimGroup, ScimGroup.id == ScimGroupMember.group_id)
        .where(ScimGroup.org_id == org_id, func.lower(ScimGroup.display_name) == display_name.lower())))


def _mapping_event(mapping: ScimGroupMapping) -> dict:
    return {"org_id": mapping.org_id, "mapping_id": mapping.id, "display_name": mapping.display_name,
            "program_id": mapping.program_id, "contract_id": mapping.contract_id, "created_by": mapping.created_by}


def remove_group_mapping(uow: UnitOfWork, org_id: str, mapping_id: str) -> None:
    mapping_id = parse_uuid(mapping_id)
    mapping = uow.session.get(ScimGroupMapping, mapping_id) if mapping_id else None
    if mapping is None or mapping.org_id != org_id:
        raise not_found("group mapping")
    uow.session.delete(mapping)
    uow.session.flush()
    uow.publish(SCIM_GROUP_MAPPING_CHANGED, {**_mapping_event(mapping), "change": MappingChange.REMOVED},
                org_id=org_id)
    publish_entitlements(uow, org_id, _members_named(uow, org_id, mapping.display_name))
