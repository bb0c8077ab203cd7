"""programs' rules, as plain functions over a unit of work.

Every function that touches an organization's data takes its org_id and
filters by it: an id of another organization is simply "not found"."""
import secrets
from collections import Counter
from datetime import UTC, date, datetime

from sqlalchemy import delete, func, literal, select, text, update
from sqlalchemy.exc import IntegrityError

from contracts.errors import AppError, ErrorCode, invalid, not_found
from servicekit import config
from servicekit.bulk import arrays, insert_rows, unnest
from services.programs import catalog
from services.programs.models import (
    Collection,
    CollectionItem,
    Contract,
    Enrollment,
    Membership,
    Person,
    Program,
    ProgramContract,
    Specialization,
    new_id,
)
from services.programs.pages import keyset_page

SLUG_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
# The members search filters on exactly this expression (a trigram index covers it).
SEARCH_TEXT = func.coalesce(Membership.email, "") + literal(" ") + func.coalesce(func.lower(Membership.full_name), "")


def now() -> datetime:
    return datetime.now(UTC)


def today() -> date:
    return now().date()


def _conflict_on_duplicate(uow, what: str, field: str):
    """Flush; a unique-index violation becomes a clear 409 instead of a 500."""
    try:
        with uow.session.begin_nested():
            uow.session.flush()
    except IntegrityError:
        raise AppError(ErrorCode.DUPLICATE_NAME, f"a {what} with this name exists",
                       {field: ["already used"]}) from None


# ---------------------------------------------------------------- contracts


def contract_view(contract: Contract) -> dict:
    return {"id": contract.id, "org_id": contract.org_id, "name": contract.name,
            "license_count": contract.license_count, "licenses_used": contract.licenses_used,
            "licenses_free": max(contract.license_count - contract.licenses_used, 0),
            "starts_on": contract.starts_on, "ends_on": contract.ends_on,
            "active": contract.starts_on <= today() <= contract.ends_on, "created_at": contract.created_at}


def _contract_event(contract: Contract) -> dict:
    return {"contract_id": contract.id, "org_id": contract.org_id, "name": contract.name,
            "license_count": contract.license_count, "starts_on": contract.starts_on.isoformat(),
            "ends_on": contract.ends_on.isoformat()}


def get_contract(uow, org_id: str, contract_id: str, lock: bool = False) -> Contract:
    query = select(Contract).where(Contract.id == str(contract_id), Contract.org_id == str(org_id))
    contract = uow.session.scalar(query.with_for_update() if lock else query)
    if contract is None:
        raise not_found("contract")
    return contract


def locate_contract(uow, contract_id: str) -> dict:
    contract = uow.session.get(Contract, str(contract_id))
    if contract is None:
        raise not_found("contract")
    return {"id": contract.id, "org_id": contract.org_id}


def create_contract(uow, org_id: str, data: dict) -> Contract:
    contract = Contract(org_id=str(org_id), licenses_used=0, **data)
    uow.session.add(contract)
    _conflict_on_duplicate(uow, "contract", "name")
    uow.publish("programs.contract.created.v1", _contract_event(contract), org_id=org_id)
    return contract


def list_contracts(uow, org_id: str, limit: int, cursor: str | None) -> dict:
    query = select(Contract).where(Contract.org_id == str(org_id))
    rows, next_cursor = keyset_page(uow.session, query, [Contract.name, Contract.id], cursor, limit,
                                    lambda row: (row[0].name, row[0].id))
    return {"items": [contract_view(row[0]) for row in rows], "next_cursor": next_cursor}


def update_contract(uow, org_id: str, contract_id: str, changes: dict) -> Contract:
    contract = get_contract(uow, org_id, contract_id, lock=True)  # joins wait while the count changes
    starts_on = changes.get("starts_on", contract.starts_on)
    ends_on = changes.get("ends_on", contract.ends_on)
    if ends_on < starts_on:
        raise invalid({"ends_on": ["must not be before starts_on"]})
    if changes.get("license_count", contract.license_count) < contract.licenses_used:
        raise AppError(ErrorCode.LICENSES_IN_USE,
                       f"{contract.licenses_used} licenses are in use; the count cannot go below that",
                       {"licenses_used": contract.licenses_used})
    changed = [name for name, value in changes.items() if getattr(contract, name) != value]
    for name in changed:
        setattr(contract, name, changes[name])
    if changed:
        _conflict_on_duplicate(uow, "contract", "name")
        uow.publish("programs.contract.updated.v1", _contract_event(contract), org_id=org_id)
    return contract


# ---------------------------------------------------------------- programs


def new_slug() -> str:
    return "program-" + "".join(secrets.choice(SLUG_ALPHABET) for _ in range(6))


def join_url(slug: str) -> str:
    return f"{config.public_url()}/programs/{slug}"


def contract_ids_of(uow, program_id: str) -> list[str]:
    return sorted(uow.session.scalars(select(ProgramContract.contract_id)
                                      .where(ProgramContract.program_id == program_id)))


def program_ref(program: Program) -> dict:
    return {"id": program.id, "org_id": program.org_id, "name": program.name, "slug": program.slug,
            "join_url": join_url(program.slug)}


def program_view(uow, program: Program, with_counts: bool = False) -> dict:
    view = program_ref(program)
    view.update({"tagline": program.tagline, "banner_url": program.banner_url,
                 "enrollment_limit": program.enrollment_limit, "contract_ids": contract_ids_of(uow, program.id),
                 "created_at": program.created_at})
    if with_counts:
        view["member_count"] = uow.session.scalar(
            select(func.count()).select_from(Membership)
            .where(Membership.program_id == program.id, Membership.state == "MEMBER"))
    return view


def _program_event(uow, program: Program) -> dict:
    return {"program_id": program.id, "org_id": program.org_id, "name": program.name, "slug": program.slug,
            "tagline": program.tagline, "join_url": join_url(program.slug),
            "contract_ids": contract_ids_of(uow, program.id), "enrollment_limit": program.enrollment_limit}


def get_program(uow, org_id: str, program_id: str, lock: bool = False) -> Program:
    query = select(Program).where(Program.id == str(program_id), Program.org_id == str(org_id),
                                  Program.removed_at.is_(None))
    program = uow.session.scalar(query.with_for_update() if lock else query)
    if program is None:
        raise not_found("program")
    return program


def locate_program(uow, program_id: str) -> dict:
    program = uow.session.get(Program, str(program_id))
    if program is None or program.removed_at is not None:
        raise not_found("program")
    return program_ref(program)


def find_program_by_slug(uow, slug: str) -> dict:
    program = uow.session.scalar(select(Program).where(Program.slug == str(slug).strip().lower(),
                                                       Program.removed_at.is_(None)))
    if program is None:
        raise not_found("program")
    return program_ref(program)


def _set_contracts(uow, program: Program, contract_ids: list[str]) -> None:
    wanted = sorted(set(contract_ids))
    found = set(uow.session.scalars(select(Contract.id).where(Contract.id.in_(wanted),
                                                              Contract.org_id == program.org_id)))
    unknown = [cid for cid in wanted if cid not in found]
    if unknown:
        raise invalid({"contract_ids": [f"unknown contracts: {unknown}"]})
    uow.session.execute(delete(ProgramContract).where(ProgramContract.program_id == program.id))
    uow.session.add_all(ProgramContract(program_id=program.id, contract_id=cid) for cid in wanted)


def create_program(uow, org_id: str, data: dict) -> Program:
    data = dict(data)
    contract_ids = data.pop("contract_ids")
    program = Program(org_id=str(org_id), **data)
    for _ in range(10):  # 36^6 slugs: a collision is rare, retrying is enough
        program.slug = new_slug()
        if uow.session.scalar(select(Program.id).where(Program.slug == program.slug)) is None:
            break
    uow.session.add(program)
    _conflict_on_duplicate(uow, "program", "name")
    _set_contracts(uow, program, contract_ids)
    uow.session.flush()
    uow.publish("programs.program.created.v1", _program_event(uow, program), org_id=org_id)
    return program


def list_programs(uow, org_id: str, scope: list[str] | None, limit: int, cursor: str | None) -> dict:
    """scope None: every program of the org (org admin); else only those ids."""
    query = select(Program).where(Program.org_id == str(org_id), Program.removed_at.is_(None))
    if scope is not None:
        query = query.where(Program.id.in_([str(p) for p in scope]))
    rows, next_cursor = keyset_page(uow.session, query, [Program.name, Program.id], cursor, limit,
                                    lambda row: (row[0].name, row[0].id))
    return {"items": [program_view(uow, row[0]) for row in rows], "next_cursor": next_cursor}


def update_program(uow, org_id: str, program_id: str, changes: dict) -> Program:
    program = get_program(uow, org_id, program_id, lock=True)
    changes = dict(changes)
    changed = []
    if "contract_ids" in changes:
        wanted = sorted(set(changes.pop("contract_ids")))
        if wanted != contract_ids_of(uow, program.id):
            _set_contracts(uow, program, wanted)
            changed.append("contract_ids")
    for name, value in changes.items():
        if getattr(program, name) != value:
            setattr(program, name, value)
            changed.append(name)
    if changed:
        _conflict_on_duplicate(uow, "program", "name")
        uow.publish("programs.program.updated.v1", {**_program_event(uow, program), "changed": sorted(changed)},
                    org_id=org_id)
    return program


def remove_program(uow, org_id: str, program_id: str) -> dict:
    """Irreversible: every member is removed (license freed, enrollments
    downgraded, one event each), then the program. Set-based: a program of
    100,000 members is removed with a handful of statements."""
    program = get_program(uow, org_id, program_id, lock=True)
    _lock_contracts(uow, uow.session.scalars(select(Membership.contract_id).distinct().where(
        Membership.program_id == program.id, Membership.state == "MEMBER")).all())
    removed_at = now()
    members = _remove_memberships(uow, program, Membership.program_id == program.id, "PROGRAM_REMOVED", removed_at)
    program.removed_at = removed_at
    uow.publish("programs.program.removed.v1", {"program_id": program.id, "org_id": program.org_id,
                                                "name": program.name, "slug": program.slug,
                                                "removed_at": removed_at.isoformat()}, org_id=org_id)
    return {"program_id": program.id, "removed_members": members}


def missing_programs(uow, org_id: str, program_ids: list[str]) -> list[str]:
    wanted = {str(p) for p in program_ids}
    found = set(uow.session.scalars(select(Program.id).where(Program.id.in_(wanted), Program.org_id == str(org_id),
                                                             Program.removed_at.is_(None))))
    return sorted(wanted - found)


# ---------------------------------------------------------------- curriculum


def _get_collection(uow, org_id: str, collection_id: str, lock: bool = False) -> Collection:
    query = (select(Collection).join(Program, Program.id == Collection.program_id)
             .where(Collection.id == str(collection_id), Collection.org_id == str(org_id),
                    Program.removed_at.is_(None)))
    collection = uow.session.scalar(query.with_for_update(of=Collection) if lock else query)
    if collection is None:
        raise not_found("collection")
    return collection


def locate_collection(uow, collection_id: str) -> dict:
    collection = uow.session.get(Collection, str(collection_id))
    if collection is None or uow.session.get(Program, collection.program_id).removed_at is not None:
        raise not_found("collection")
    return {"id": collection.id, "program_id": collection.program_id, "org_id": collection.org_id}


def _items_view(uow, items: list[CollectionItem]) -> list[dict]:
    courses = catalog.courses_by_id(uow, [i.course_id for i in items if i.course_id])
    specs = catalog.specializations_by_id(uow, [i.specialization_id for i in items if i.specialization_id])
    views = []
    for item in items:
        entry = courses[item.course_id] if item.kind == "COURSE" else specs[item.specialization_id]
        views.append({"id": item.id, "kind": item.kind, "course_id": item.course_id,
                      "specialization_id": item.specialization_id, "name": entry.name, "slug": entry.slug,
                      "partner": entry.partner, "position": item.position})
    return views


def collection_view(uow, collection: Collection) -> dict:
    items = uow.session.scalars(select(CollectionItem).where(CollectionItem.collection_id == collection.id)
                                .order_by(CollectionItem.position, CollectionItem.id)).all()
    return {"id": collection.id, "program_id": collection.program_id, "name": collection.name,
            "description": collection.description, "position": collection.position,
            "items": _items_view(uow, items)}


def list_collections(uow, org_id: str, program_id: str) -> list[dict]:
    program = get_program(uow, org_id, program_id)
    collections = uow.session.scalars(select(Collection).where(Collection.program_id == program.id)
                                      .order_by(Collection.position, Collection.id)).all()
    return [collection_view(uow, c) for c in collections]


def _curriculum_changed(uow, program: Program) -> None:
    rows = uow.session.execute(select(CollectionItem.course_id, CollectionItem.specialization_id)
                               .where(CollectionItem.program_id == program.id)).all()
    uow.publish("programs.curriculum.changed.v1", {
        "program_id": program.id, "org_id": program.org_id,
        "course_ids": sorted({r.course_id for r in rows if r.course_id}),
        "specialization_ids": sorted({r.specialization_id for r in rows if r.specialization_id}),
    }, org_id=program.org_id)


def create_collection(uow, org_id: str, program_id: str, data: dict) -> dict:
    program = get_program(uow, org_id, program_id, lock=True)  # serializes positions
    last = uow.session.scalar(select(func.max(Collection.position)).where(Collection.program_id == program.id))
    collection = Collection(org_id=program.org_id, program_id=program.id, name=data["name"],
                            description=data.get("description"), position=(last or 0) + 1)
    uow.session.add(collection)
    _conflict_on_duplicate(uow, "collection", "name")
    return collection_view(uow, collection)


def _move(rows: list, moving, position: int) -> None:
    """Put `moving` at 1-based `position` among `rows` and renumber them."""
    ordered = [r for r in rows if r is not moving]
    ordered.insert(max(0, min(position - 1, len(ordered))), moving)
    for index, row in enumerate(ordered, start=1):
        row.position = index


def update_collection(uow, org_id: str, collection_id: str, changes: dict) -> dict:
    collection = _get_collection(uow, org_id, collection_id)
    program = get_program(uow, org_id, collection.program_id, lock=True)
    for name in ("name", "description"):
        if name in changes:
            setattr(collection, name, changes[name])
    if "position" in changes:
        siblings = uow.session.scalars(select(Collection).where(Collection.program_id == program.id)
                                       .order_by(Collection.position, Collection.id)).all()
        _move(siblings, collection, changes["position"])
    if "item_ids" in changes:
        items = uow.session.scalars(select(CollectionItem).where(CollectionItem.collection_id == collection.id)).all()
        by_id = {i.id: i for i in items}
        order = changes["item_ids"]
        if sorted(order) != sorted(by_id):
            raise invalid({"item_ids": ["must list every item of the collection exactly once"]})
        for index, item_id in enumerate(order, start=1):
            by_id[item_id].position = index
    _conflict_on_duplicate(uow, "collection", "name")
    return collection_view(uow, collection)


def delete_collection(uow, org_id: str, collection_id: str) -> None:
    collection = _get_collection(uow, org_id, collection_id)
    program = get_program(uow, org_id, collection.program_id, lock=True)
    had_items = uow.session.scalar(select(func.count()).where(CollectionItem.collection_id == collection.id))
    uow.session.execute(delete(CollectionItem).where(CollectionItem.collection_id == collection.id))
    uow.session.delete(collection)
    uow.session.flush()
    if had_items:
        _curriculum_changed(uow, program)


def add_items(uow, org_id: str, collection_id: str, course_ids: list[str], specialization_ids: list[str]) -> dict:
    collection = _get_collection(uow, org_id, collection_id)
    program = get_program(uow, org_id, collection.program_id, lock=True)
    courses = catalog.courses_by_id(uow, course_ids)
    specs = catalog.specializations_by_id(uow, specialization_ids)
    errors = {}
    if set(course_ids) - set(courses):
        errors["course_ids"] = [f"unknown courses: {sorted(set(course_ids) - set(courses))}"]
    if set(specialization_ids) - set(specs):
        errors["specialization_ids"] = [f"unknown specializations: {sorted(set(specialization_ids) - set(specs))}"]
    if errors:
        raise invalid(errors, "unknown catalog ids")
    existing = set(uow.session.execute(select(CollectionItem.kind,
                                              func.coalesce(CollectionItem.course_id, CollectionItem.specialization_id))
                                       .where(CollectionItem.collection_id == collection.id)).all())
    position = uow.session.scalar(select(func.max(CollectionItem.position))
                                  .where(CollectionItem.collection_id == collection.id)) or 0
    added = 0
    wanted = [("COURSE", cid) for cid in dict.fromkeys(course_ids)]
    wanted += [("SPECIALIZATION", sid) for sid in dict.fromkeys(specialization_ids)]
    for kind, item_id in wanted:
        if (kind, item_id) in existing:
            continue  # adding twice is a no-op
        position += 1
        added += 1
        uow.session.add(CollectionItem(collection_id=collection.id, program_id=program.id, kind=kind,
                                       course_id=item_id if kind == "COURSE" else None,
                                       specialization_id=item_id if kind == "SPECIALIZATION" else None,
                                       position=position))
    uow.session.flush()
    if added:
        _curriculum_changed(uow, program)
    return collection_view(uow, collection)


def remove_item(uow, org_id: str, collection_id: str, item_id: str) -> None:
    collection = _get_collection(uow, org_id, collection_id)
    program = get_program(uow, org_id, collection.program_id, lock=True)
    removed = uow.session.execute(delete(CollectionItem).where(CollectionItem.id == str(item_id),
                                                               CollectionItem.collection_id == collection.id))
    if removed.rowcount == 0:
        raise not_found("item")
    _curriculum_changed(uow, program)


# ---------------------------------------------------------------- people (projection)


PERSON_COLUMNS = {"user_id": "text", "email": "text", "full_name": "text"}
NAMED_COLUMNS = {**PERSON_COLUMNS, "sort_name": "text"}
INVITED_COLUMNS = {"id": "text", "user_id": "text", "email": "text", "full_name": "text", "sort_name": "text",
                   "invitation_id": "text"}


def remember_person(uow, org_id: str, user_id: str, email: str | None, full_name: str | None) -> None:
    remember_people(uow, org_id, [{"user_id": user_id, "email": email, "full_name": full_name}])


def remember_people(uow, org_id: str, people: list[dict]) -> None:
    """Who these people ({user_id, email, full_name}) are; the names shown in
    members lists follow."""
    rows = {}
    for p in people:
        if p.get("email"):
            email = p["email"].strip().lower()
            name = (p.get("full_name") or email).strip()
            rows[str(p["user_id"])] = {"user_id": str(p["user_id"]), "email": email, "full_name": name,
                                       "sort_name": name.lower()}
    if not rows:
        return
    uow.session.flush()  # the statements below bypass the ORM
    people_rows = [rows[user_id] for user_id in sorted(rows)]  # a stable order: no deadlocks between batches
    insert_rows(uow.session, "people", PERSON_COLUMNS, people_rows, constants={"org_id": ("text", str(org_id))},
                conflict="ON CONFLICT (org_id, user_id) DO UPDATE SET email = EXCLUDED.email, "
                         "full_name = EXCLUDED.full_name")
    uow.session.execute(text(
        "UPDATE memberships m SET email = v.email, full_name = v.full_name, sort_name = v.sort_name "
        f"FROM {unnest(NAMED_COLUMNS)} WHERE m.org_id = :org_id AND m.user_id = v.user_id"),
        {"org_id": str(org_id), **arrays(people_rows, NAMED_COLUMNS)})
    uow.session.expire_all()  # memberships loaded before see the new names


def known_person(uow, org_id: str, user_id: str) -> Person | None:
    return uow.session.get(Person, (str(org_id), str(user_id)))


# ---------------------------------------------------------------- memberships


def member_view(m: Membership) -> dict:
    return {"membership_id": m.id, "program_id": m.program_id, "user_id": m.user_id, "email": m.email,
            "full_name": m.full_name, "state": m.state, "contract_id": m.contract_id,
            "invitation_id": m.invitation_id, "invited_at": m.invited_at, "joined_at": m.joined_at,
            "removed_at": m.removed_at}


def _membership(uow, program_id: str, user_id: str, lock: bool = False) -> Membership | None:
    query = select(Membership).where(Membership.program_id == str(program_id), Membership.user_id == str(user_id))
    if lock:  # read the row as it is now that we hold its lock
        query = query.with_for_update().execution_options(populate_existing=True)
    return uow.session.scalar(query)


def join_program(uow, org_id: str, program_id: str, user_id: str, contract_id: str, invitation_id: str | None,
                 person: dict | None) -> dict:
    """A person takes a license of `contract_id` and becomes a member.

    The contract row is locked first, so concurrent joins against one contract
    queue up and the license count is checked and taken in one transaction:
    the last license goes to exactly one of them."""
    program = get_program(uow, org_id, program_id)
    if str(contract_id) not in contract_ids_of(uow, program.id):
        raise AppError(ErrorCode.INVALID_INPUT, "this contract is not one of the program's contracts",
                       {"contract_id": ["not a contract of this program"]})
    contract = get_contract(uow, org_id, contract_id, lock=True)
    membership = _membership(uow, program.id, user_id, lock=True)
    if membership is not None and membership.state == "MEMBER":
        if invitation_id and membership.invitation_id == str(invitation_id):
            return member_view(membership)  # the same invitation again: idempotent
        raise AppError(ErrorCode.ALREADY_MEMBER, "this person is already a member of the program")
    if not contract.starts_on <= today() <= contract.ends_on:
        raise AppError(ErrorCode.CONTRACT_NOT_ACTIVE, "the contract is not active today",
                       {"starts_on": contract.starts_on.isoformat(), "ends_on": contract.ends_on.isoformat()})
    if contract.licenses_used >= contract.license_count:
        raise AppError(ErrorCode.LICENSE_LIMIT_REACHED, "no free license left in this contract",
                       {"license_count": contract.license_count})
    if person:
        remember_person(uow, org_id, user_id, person.get("email"), person.get("full_name"))
    known = known_person(uow, org_id, user_id)
    contract.licenses_used += 1
    joined_at = now()
    if membership is None:
        membership = Membership(org_id=program.org_id, program_id=program.id, user_id=str(user_id))
        uow.session.add(membership)
    membership.state = "MEMBER"
    membership.contract_id = contract.id
    membership.invitation_id = str(invitation_id) if invitation_id else membership.invitation_id
    membership.joined_at = joined_at
    membership.removed_at = None
    if known is not None:
        membership.email, membership.full_name = known.email, known.full_name
    membership.sort_name = (membership.full_name or membership.email or "").lower()
    uow.session.flush()
    uow.publish("programs.member.joined.v1", {
        "membership_id": membership.id, "org_id": program.org_id, "program_id": program.id,
        "program_name": program.name, "user_id": membership.user_id, "email": membership.email,
        "full_name": membership.full_name, "contract_id": contract.id, "invitation_id": membership.invitation_id,
        "joined_at": joined_at.isoformat()}, org_id=program.org_id)
    return member_view(membership)


def _remove_memberships(uow, program: Program, which, reason: str, removed_at: datetime | None = None) -> int:
    """The members `which` selects (a condition on Membership) leave the
    program: DELETED_MEMBER, licenses freed, enrollments downgraded, an event
    for each. Set-based (a program of 100,000 members is a handful of
    statements); the caller has locked the contracts. Returns how many left."""
    removed_at = removed_at or now()
    uow.session.flush()  # the statements below bypass the ORM
    members = uow.session.execute(
        update(Membership).where(which, Membership.state == "MEMBER")
        .values(state="DELETED_MEMBER", removed_at=removed_at)
        .returning(Membership.id, Membership.user_id, Membership.email, Membership.full_name, Membership.contract_id)
        .execution_options(synchronize_session=False)).all()
    freed = Counter(m.contract_id for m in members if m.contract_id)
    if freed:
        uow.session.execute(text(
            "UPDATE contracts c SET licenses_used = greatest(c.licenses_used - v.freed, 0) "
            f"FROM {unnest({'id': 'text', 'freed': 'integer'})} WHERE c.id = v.id"),
            {"id": list(freed), "freed": list(freed.values())})
    downgraded = uow.session.execute(text(
        "UPDATE enrollments SET downgraded_at = :at WHERE program_id = :program_id AND downgraded_at IS NULL "
        "AND membership_id = ANY(CAST(:ids AS text[])) RETURNING id, user_id, course_id, specialization_id"),
        {"at": removed_at, "program_id": program.id, "ids": [m.id for m in members]}).all() if members else []
    when = removed_at.isoformat()
    uow.publish_many("programs.enrollment.downgraded.v1", [(
        {"enrollment_id": e.id, "org_id": program.org_id, "program_id": program.id, "user_id": e.user_id,
         "course_id": e.course_id, "specialization_id": e.specialization_id, "downgraded_at": when},
        program.org_id) for e in downgraded])
    uow.publish_many("programs.member.removed.v1", [(
        {"membership_id": m.id, "org_id": program.org_id, "program_id": program.id, "program_name": program.name,
         "user_id": m.user_id, "email": m.email, "full_name": m.full_name, "contract_id": m.contract_id,
         "reason": reason, "removed_at": when}, program.org_id) for m in members])
    uow.session.expire_all()  # memberships, contracts and enrollments loaded before are stale
    return len(members)


def _lock_contracts(uow, contract_ids) -> None:
    """Contract rows before membership rows, in id order: the order joins take
    them in, so a removal and a join never wait on each other in a cycle."""
    ids = sorted({c for c in contract_ids if c})
    if ids:
        uow.session.execute(select(Contract.id).where(Contract.id.in_(ids)).order_by(Contract.id).with_for_update())


def remove_member(uow, org_id: str, program_id: str, user_id: str) -> dict:
    program = get_program(uow, org_id, program_id)
    membership = _membership(uow, program.id, user_id)
    if membership is None:
        raise not_found("member")
    _lock_contracts(uow, [membership.contract_id])
    membership = _membership(uow, program.id, user_id, lock=True)
    if membership.state == "INVITED":
        raise AppError(ErrorCode.RULE_VIOLATION, "this person has not joined yet; revoke the invitation instead")
    _remove_memberships(uow, program, Membership.id == membership.id, "ADMIN_REMOVED")
    return member_view(membership)


def list_members(uow, org_id: str, program_id: str, state: str | None, q: str | None, limit: int,
                 cursor: str | None) -> dict:
    program = get_program(uow, org_id, program_id)
    query = select(Membership).where(Membership.program_id == program.id)
    if state:
        query = query.where(Membership.state == state)
    if q and q.strip():
        escaped = q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(SEARCH_TEXT.like(f"%{escaped}%"))
    rows, next_cursor = keyset_page(uow.session, query, [Membership.sort_name, Membership.id], cursor, limit,
                                    lambda row: (row[0].sort_name, row[0].id))
    return {"items": [member_view(row[0]) for row in rows], "next_cursor": next_cursor}


def membership_state(uow, program_id: str, user_id: str) -> str | None:
    return uow.session.scalar(select(Membership.state).where(Membership.program_id == str(program_id),
                                                             Membership.user_id == str(user_id)))


def person_in_programs(uow, org_id: str, user_id: str, program_ids: list[str]) -> bool:
    """Member, invitee or past member of any of these programs (their history stays visible)."""
    if not program_ids:
        return False
    return uow.session.scalar(select(Membership.id).where(
        Membership.org_id == str(org_id), Membership.user_id == str(user_id),
        Membership.program_id.in_([str(p) for p in program_ids])).limit(1)) is not None


# ---- invitations' events keep the INVITED rows


def on_invitation_created(uow, payload: dict) -> None:
    on_invitations_created(uow, {**payload, "invitations": [payload]})


def on_invitations_created(uow, payload: dict) -> None:
    """Invited people appear as INVITED in the members list (unless already
    members). `payload`: org, program and contract, and the invitations,
    each with its invitation_id, user_id, email and full_name."""
    program = uow.session.get(Program, payload["program_id"])
    if program is None or program.org_id != payload["org_id"] or program.removed_at is not None:
        return
    items = {str(i["user_id"]): i for i in payload["invitations"]}  # one row per person
    remember_people(uow, program.org_id, list(items.values()))
    invited = []
    for user_id in sorted(items):  # a stable order: no deadlocks between batches
        item = items[user_id]
        name = (item.get("full_name") or item.get("email") or "").strip()
        invited.append({"id": new_id(), "user_id": user_id, "email": (item.get("email") or "").strip().lower() or None,
                        "full_name": name or None, "sort_name": name.lower(),
                        "invitation_id": str(item["invitation_id"])})
    insert_rows(
        uow.session, "memberships", INVITED_COLUMNS, invited,
        constants={"org_id": ("text", program.org_id), "program_id": ("text", program.id),
                   "contract_id": ("text", payload.get("contract_id")), "state": ("text", "INVITED"),
                   "invited_at": ("timestamptz", now())},
        conflict="ON CONFLICT (program_id, user_id) DO UPDATE SET state = 'INVITED', email = EXCLUDED.email, "
                 "full_name = EXCLUDED.full_name, sort_name = EXCLUDED.sort_name, "
                 "contract_id = EXCLUDED.contract_id, invitation_id = EXCLUDED.invitation_id, "
                 "invited_at = EXCLUDED.invited_at WHERE memberships.state <> 'MEMBER'")


def on_invitation_withdrawn(uow, payload: dict) -> None:
    """Revoked or expired: the INVITED row of that invitation goes away (a past
    member who was invited again goes back to DELETED_MEMBER)."""
    membership = _membership(uow, payload["program_id"], payload["user_id"], lock=True)
    if membership is None or membership.state != "INVITED" or membership.org_id != payload["org_id"]:
        return
    if membership.invitation_id not in (None, payload["invitation_id"]):
        return  # a newer invitation is pending
    if membership.removed_at is not None:
        membership.state = "DELETED_MEMBER"
    else:
        uow.session.delete(membership)
    uow.session.flush()


# ---------------------------------------------------------------- enrollments


def enrollment_view(uow, e: Enrollment, created: bool | None = None, entry=None) -> dict:
    if entry is None:  # the catalog entry, unless the caller has it already
        if e.kind == "COURSE":
            entry = catalog.courses_by_id(uow, [e.course_id])[e.course_id]
        else:
            entry = catalog.specializations_by_id(uow, [e.specialization_id])[e.specialization_id]
    view = {"id": e.id, "program_id": e.program_id, "user_id": e.user_id, "kind": e.kind, "course_id": e.course_id,
            "specialization_id": e.specialization_id, "item_name": entry.name, "item_slug": entry.slug,
            "collection_id": e.collection_id, "enrolled_at": e.enrolled_at, "downgraded_at": e.downgraded_at}
    if created is not None:
        view["created"] = created
    return view


def _in_curriculum(uow, program_id: str, kind: str, item_id: str, collection_id: str | None) -> bool:
    """A course or specialization of the curriculum; a course is also reachable
    as a single course of a specialization in the curriculum."""
    scope = [CollectionItem.program_id == program_id]
    if collection_id:
        scope.append(CollectionItem.collection_id == collection_id)
    column = CollectionItem.course_id if kind == "COURSE" else CollectionItem.specialization_id
    if uow.session.scalar(select(CollectionItem.id).where(*scope, column == item_id).limit(1)) is not None:
        return True
    if kind != "COURSE":
        return False
    via_specialization = (select(CollectionItem.id)
                          .join(Specialization, Specialization.id == CollectionItem.specialization_id)
                          .where(*scope, Specialization.course_ids.any(item_id)).limit(1))
    return uow.session.scalar(via_specialization) is not None


def enroll(uow, org_id: str, program_id: str, user_id: str, kind: str, item_id: str,
           collection_id: str | None) -> dict:
    program = get_program(uow, org_id, program_id)
    # The membership row lock serializes one learner's enrollments in the
    # program, so parallel requests cannot pass the limit together.
    membership = _membership(uow, program.id, user_id, lock=True)
    if membership is None:  # never invited: the program is none of their business
        raise not_found("program")
    if membership.state != "MEMBER":
        raise AppError(ErrorCode.NOT_A_MEMBER, "join the program before enrolling")
    if collection_id:
        owner = uow.session.scalar(select(Collection.program_id).where(Collection.id == str(collection_id)))
        if owner != program.id:
            raise invalid({"collection_id": ["not a collection of this program"]})
    entries = (catalog.courses_by_id if kind == "COURSE" else catalog.specializations_by_id)(uow, [item_id])
    if item_id not in entries or not _in_curriculum(uow, program.id, kind, item_id, collection_id):
        raise AppError(ErrorCode.NOT_IN_CURRICULUM, f"this {kind.lower()} is not in the program's curriculum"
                       + (" collection" if collection_id else ""))
    column = Enrollment.course_id if kind == "COURSE" else Enrollment.specialization_id
    existing = uow.session.scalar(select(Enrollment).where(Enrollment.membership_id == membership.id,
                                                           Enrollment.kind == kind, column == item_id))
    if existing is not None and existing.downgraded_at is None:
        return enrollment_view(uow, existing, created=False, entry=entries[item_id])  # enrolling again: idempotent
    if program.enrollment_limit is not None:
        current = uow.session.scalar(select(func.count()).select_from(Enrollment).where(
            Enrollment.membership_id == membership.id, Enrollment.downgraded_at.is_(None)))
        if current >= program.enrollment_limit:
            raise AppError(ErrorCode.ENROLLMENT_LIMIT_REACHED,
                           f"the program allows {program.enrollment_limit} current enrollments",
                           {"enrollment_limit": program.enrollment_limit, "current": current})
    if existing is None:
        existing = Enrollment(org_id=program.org_id, program_id=program.id, membership_id=membership.id,
                              user_id=membership.user_id, kind=kind,
                              course_id=item_id if kind == "COURSE" else None,
                              specialization_id=item_id if kind == "SPECIALIZATION" else None)
        uow.session.add(existing)
    existing.collection_id = str(collection_id) if collection_id else None
    existing.enrolled_at = now()
    existing.downgraded_at = None  # a rejoined member enrolling again gets full access back
    uow.session.flush()
    view = enrollment_view(uow, existing, created=True, entry=entries[item_id])
    uow.publish("programs.enrollment.created.v1", {
        "enrollment_id": existing.id, "org_id": program.org_id, "program_id": program.id,
        "user_id": membership.user_id, "email": membership.email, "full_name": membership.full_name, "kind": kind,
        "course_id": existing.course_id, "specialization_id": existing.specialization_id,
        "item_name": view["item_name"], "item_slug": view["item_slug"], "collection_id": existing.collection_id,
        "enrolled_at": existing.enrolled_at.isoformat()}, org_id=program.org_id)
    return view


# ---------------------------------------------------------------- learners (scoped by the signed-in user)


def my_programs(uow, user_id: str, limit: int, cursor: str | None) -> dict:
    query = (select(Membership, Program).join(Program, Program.id == Membership.program_id)
             .where(Membership.user_id == str(user_id), Membership.state.in_(("MEMBER", "INVITED")),
                    Program.removed_at.is_(None)))
    rows, next_cursor = keyset_page(uow.session, query, [Program.name, Program.id], cursor, limit,
                                    lambda row: (row[1].name, row[1].id))
    counts = dict(uow.session.execute(
        select(Enrollment.membership_id, func.count()).where(
            Enrollment.membership_id.in_([m.id for m, _ in rows]), Enrollment.downgraded_at.is_(None))
        .group_by(Enrollment.membership_id)).all()) if rows else {}
    items = [{**program_ref(p), "tagline": p.tagline, "state": m.state, "joined_at": m.joined_at,
              "enrollment_limit": p.enrollment_limit, "enrollment_count": counts.get(m.id, 0)} for m, p in rows]
    return {"items": items, "next_cursor": next_cursor}


def my_enrollments(uow, user_id: str, limit: int, cursor: str | None) -> dict:
    query = select(Enrollment).where(Enrollment.user_id == str(user_id))
    rows, next_cursor = keyset_page(uow.session, query, [Enrollment.id], cursor, limit, lambda row: (row[0].id,))
    courses = catalog.courses_by_id(uow, [r[0].course_id for r in rows if r[0].course_id])
    specs = catalog.specializations_by_id(uow, [r[0].specialization_id for r in rows if r[0].specialization_id])
    items = [enrollment_view(uow, e, entry=courses[e.course_id] if e.kind == "COURSE" else specs[e.specialization_id])
             for (e,) in rows]
    return {"items": items, "next_cursor": next_cursor}
