"""programs' reads: lookups of one row (what commands load and lock), lists
and the view dicts the RPCs answer with.

Every read of an organization's data takes its org_id and filters by it: an
id of another organization is simply "not found"."""
from datetime import date, datetime

from sqlalchemy import func, literal, or_, select

from contracts.errors import AppError, ErrorCode, not_found
from contracts.programs import CourseSchema, ItemKind, MemberState, SpecializationSchema
from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from servicekit.models import parse_uuid
from servicekit.pagination import contains, keyset_page
from services.programs.models import (
    Collection,
    CollectionItem,
    Contract,
    Course,
    Enrollment,
    Membership,
    Person,
    Program,
    ProgramContract,
    Specialization,
)

COURSE_FIELDS = tuple(CourseSchema().fields)
SPECIALIZATION_FIELDS = tuple(SpecializationSchema().fields)
# The members search filters on exactly this expression (a trigram index covers it).
SEARCH_TEXT = func.coalesce(Membership.email, "") + literal(" ") + func.coalesce(func.lower(Membership.full_name), "")


def now() -> datetime:
    return utcnow()


def today() -> date:
    return now().date()


def uuids(ids) -> list[str]:
    """The UUIDs among `ids`, canonical; the others name nothing."""
    return [parsed for parsed in map(parse_uuid, ids) if parsed]


def page_of(rows, next_cursor, view) -> dict:
    return {"items": [view(row) for row in rows], "next_cursor": next_cursor}


# ---------------------------------------------------------------- catalog


def course_view(course: Course) -> dict:
    return {name: getattr(course, name) for name in COURSE_FIELDS}


def specialization_view(spec: Specialization) -> dict:
    return {name: (list(getattr(spec, name)) if name == "course_ids" else getattr(spec, name))
            for name in SPECIALIZATION_FIELDS}


def _search(query, model, q: str | None):
    if q and q.strip():
        pattern = contains(q)
        query = query.where(or_(model.name.ilike(pattern), model.slug.ilike(pattern), model.partner.ilike(pattern)))
    return query


def search_courses(uow: UnitOfWork, q: str | None, limit: int, cursor: str | None) -> dict:
    rows, next_cursor = keyset_page(uow.session, _search(select(Course), Course, q), [Course.name, Course.id],
                                    cursor, limit, lambda row: (row[0].name, row[0].id))
    return page_of(rows, next_cursor, lambda row: course_view(row[0]))


def search_specializations(uow: UnitOfWork, q: str | None, limit: int, cursor: str | None) -> dict:
    query = _search(select(Specialization), Specialization, q)
    rows, next_cursor = keyset_page(uow.session, query, [Specialization.name, Specialization.id], cursor, limit,
                                    lambda row: (row[0].name, row[0].id))
    return page_of(rows, next_cursor, lambda row: specialization_view(row[0]))


def courses_by_id(uow: UnitOfWork, ids) -> dict[str, Course]:
    ids = list({str(i) for i in ids})
    if not ids:
        return {}
    return {c.id: c for c in uow.session.scalars(select(Course).where(Course.id.in_(ids)))}


def specializations_by_id(uow: UnitOfWork, ids) -> dict[str, Specialization]:
    ids = list({str(i) for i in ids})
    if not ids:
        return {}
    return {s.id: s for s in uow.session.scalars(select(Specialization).where(Specialization.id.in_(ids)))}


def courses_view(uow: UnitOfWork, course_ids) -> list[dict]:
    return [course_view(c) for c in courses_by_id(uow, course_ids).values()]


def courses_by_ref(uow: UnitOfWork, refs) -> list[dict]:
    """The courses whose id or slug is one of `refs` (a learning platform may name a course either way)."""
    refs = sorted({str(r) for r in refs})
    if not refs:
        return []
    return [course_view(c) for c in uow.session.scalars(
        select(Course).where(or_(Course.id.in_(refs), Course.slug.in_(refs))).order_by(Course.id))]


def specializations_view(uow: UnitOfWork, specialization_ids) -> list[dict]:
    return [specialization_view(s) for s in specializations_by_id(uow, specialization_ids).values()]


# ---------------------------------------------------------------- contracts


def contract_view(contract: Contract) -> dict:
    return {"id": contract.id, "org_id": contract.org_id, "name": contract.name,
            "license_count": contract.license_count, "licenses_used": contract.licenses_used,
            "licenses_free": contract.licenses_free, "starts_on": contract.starts_on, "ends_on": contract.ends_on,
            "active": contract.is_active(today()), "created_at": contract.created_at}


def get_contract(uow: UnitOfWork, org_id: str, contract_id: str, lock: bool = False) -> Contract:
    query = select(Contract).where(Contract.id == str(contract_id), Contract.org_id == str(org_id))
    contract = uow.session.scalar(query.with_for_update() if lock else query)
    if contract is None:
        raise not_found("contract")
    return contract


def contract(uow: UnitOfWork, org_id: str, contract_id: str) -> dict:
    return contract_view(get_contract(uow, org_id, contract_id))


def locate_contract(uow: UnitOfWork, contract_id: str) -> dict:
    found = uow.session.get(Contract, str(contract_id))
    if found is None:
        raise not_found("contract")
    return {"id": found.id, "org_id": found.org_id}


def list_contracts(uow: UnitOfWork, org_id: str, limit: int, cursor: str | None) -> dict:
    query = select(Contract).where(Contract.org_id == str(org_id))
    rows, next_cursor = keyset_page(uow.session, query, [Contract.name, Contract.id], cursor, limit,
                                    lambda row: (row[0].name, row[0].id))
    return page_of(rows, next_cursor, lambda row: contract_view(row[0]))


# ---------------------------------------------------------------- programs


def contract_ids_of(uow: UnitOfWork, program_id: str) -> list[str]:
    return sorted(uow.session.scalars(select(ProgramContract.contract_id)
                                      .where(ProgramContract.program_id == program_id)))


def program_ref(program: Program, public_url: str) -> dict:
    return {"id": program.id, "org_id": program.org_id, "name": program.name, "slug": program.slug,
            "join_url": program.join_url(public_url)}


def program_view(uow: UnitOfWork, program: Program, public_url: str, with_counts: bool = False) -> dict:
    view = program_ref(program, public_url)
    view.update({"tagline": program.tagline, "banner_url": program.banner_url,
                 "enrollment_limit": program.enrollment_limit, "contract_ids": contract_ids_of(uow, program.id),
                 "created_at": program.created_at})
    if with_counts:
        view["member_count"] = uow.session.scalar(
            select(func.count()).select_from(Membership)
            .where(Membership.program_id == program.id, Membership.state == MemberState.MEMBER))
    return view


def get_program(uow: UnitOfWork, org_id: str, program_id: str, lock: bool = False, share: bool = False) -> Program:
    """`lock`: the row locked for a change of the program (FOR UPDATE); `share`:
    kept as it is until this transaction ends (FOR SHARE: a removal waits)."""
    query = select(Program).where(Program.id == str(program_id), Program.org_id == str(org_id),
                                  Program.removed_at.is_(None))
    if lock or share:
        query = query.with_for_update(read=not lock)
    program = uow.session.scalar(query)
    if program is None:
        raise not_found("program")
    return program


def program_with_contract(uow: UnitOfWork, org_id: str, program_id: str, contract_id: str,
                          share: bool = False) -> Program:
    """The program, if `contract_id` is one of its contracts (joining takes a
    license of it; invitations asks before inviting): INVALID_INPUT otherwise.
    `share`: as `get_program`'s."""
    program = get_program(uow, org_id, program_id, share=share)
    if str(contract_id) not in contract_ids_of(uow, program.id):
        raise AppError(ErrorCode.INVALID_INPUT, "this contract is not one of the program's contracts",
                       {"contract_id": ["not a contract of this program"]})
    return program


def program(uow: UnitOfWork, org_id: str, program_id: str, public_url: str) -> dict:
    return program_view(uow, get_program(uow, org_id, program_id), public_url, with_counts=True)


def locate_program(uow: UnitOfWork, program_id: str, public_url: str) -> dict:
    found = uow.session.get(Program, str(program_id))
    if found is None or found.removed_at is not None:
        raise not_found("program")
    return program_ref(found, public_url)


def find_program_by_slug(uow: UnitOfWork, slug: str, public_url: str) -> dict:
    found = uow.session.scalar(select(Program).where(Program.slug == str(slug).strip().lower(),
                                                     Program.removed_at.is_(None)))
    if found is None:
        raise not_found("program")
    return program_ref(found, public_url)


def list_programs(uow: UnitOfWork, org_id: str, scope: list[str] | None, limit: int, cursor: str | None,
                  public_url: str) -> dict:
    """scope None: every program of the org (org admin); else only those ids."""
    query = select(Program).where(Program.org_id == str(org_id), Program.removed_at.is_(None))
    if scope is not None:
        query = query.where(Program.id.in_(uuids(scope)))
    rows, next_cursor = keyset_page(uow.session, query, [Program.name, Program.id], cursor, limit,
                                    lambda row: (row[0].name, row[0].id))
    return page_of(rows, next_cursor, lambda row: program_view(uow, row[0], public_url))


def missing_programs(uow: UnitOfWork, org_id: str, program_ids: list[str]) -> list[str]:
    """The ids (as given) that name no live program of the organization."""
    found = set(uow.session.scalars(select(Program.id).where(
        Program.id.in_(uuids(program_ids)), Program.org_id == str(org_id), Program.removed_at.is_(None))))
    return sorted({str(p) for p in program_ids if parse_uuid(p) not in found})


# ---------------------------------------------------------------- curriculum


def get_collection(uow: UnitOfWork, org_id: str, collection_id: str, lock: bool = False) -> Collection:
    query = (select(Collection).join(Program, Program.id == Collection.program_id)
             .where(Collection.id == str(collection_id), Collection.org_id == str(org_id),
                    Program.removed_at.is_(None)))
    if lock:  # read the row as it is now that we hold its lock
        query = query.with_for_update(of=Collection).execution_options(populate_existing=True)
    collection = uow.session.scalar(query)
    if collection is None:
        raise not_found("collection")
    return collection


def locate_collection(uow: UnitOfWork, collection_id: str) -> dict:
    collection = uow.session.get(Collection, str(collection_id))
    if collection is None or uow.session.get(Program, collection.program_id).removed_at is not None:
        raise not_found("collection")
    return {"id": collection.id, "program_id": collection.program_id, "org_id": collection.org_id}


def collection_names(uow: UnitOfWork, collection_ids) -> list[dict]:
    """Each existing collection among the ids: {id, org_id, program_id, name} (reporting's Enrollment Source)."""
    ids = sorted({str(i) for i in collection_ids})
    if not ids:
        return []
    return [{"id": c.id, "org_id": c.org_id, "program_id": c.program_id, "name": c.name}
            for c in uow.session.scalars(select(Collection).where(Collection.id.in_(ids)).order_by(Collection.id))]


def _items_view(uow: UnitOfWork, items: list[CollectionItem]) -> list[dict]:
    courses = courses_by_id(uow, [i.course_id for i in items if i.course_id])
    specs = specializations_by_id(uow, [i.specialization_id for i in items if i.specialization_id])
    views = []
    for item in items:
        entry = courses[item.course_id] if item.kind == ItemKind.COURSE else specs[item.specialization_id]
        views.append({"id": item.id, "kind": item.kind, "course_id": item.course_id,
                      "specialization_id": item.specialization_id, "name": entry.name, "slug": entry.slug,
                      "partner": entry.partner, "position": item.position})
    return views


def collection_view(uow: UnitOfWork, collection: Collection) -> dict:
    items = uow.session.scalars(select(CollectionItem).where(CollectionItem.collection_id == collection.id)
                                .order_by(CollectionItem.position, CollectionItem.id)).all()
    return {"id": collection.id, "program_id": collection.program_id, "name": collection.name,
            "description": collection.description, "position": collection.position,
            "items": _items_view(uow, items)}


def list_collections(uow: UnitOfWork, org_id: str, program_id: str) -> list[dict]:
    found = get_program(uow, org_id, program_id)
    collections = uow.session.scalars(select(Collection).where(Collection.program_id == found.id)
                                      .order_by(Collection.position, Collection.id)).all()
    return [collection_view(uow, c) for c in collections]


def in_curriculum(uow: UnitOfWork, program_id: str, kind: str, item_id: str, collection_id: str | None) -> bool:
    """A course or specialization of the curriculum; a course is also reachable
    as a single course of a specialization in the curriculum."""
    scope = [CollectionItem.program_id == program_id]
    if collection_id:
        scope.append(CollectionItem.collection_id == collection_id)
    column = CollectionItem.course_id if kind == ItemKind.COURSE else CollectionItem.specialization_id
    if uow.session.scalar(select(CollectionItem.id).where(*scope, column == item_id).limit(1)) is not None:
        return True
    if kind != ItemKind.COURSE:
        return False
    via_specialization = (select(CollectionItem.id)
                          .join(Specialization, Specialization.id == CollectionItem.specialization_id)
                          .where(*scope, Specialization.course_ids.any(item_id)).limit(1))
    return uow.session.scalar(via_specialization) is not None


# ---------------------------------------------------------------- people and memberships


def known_person(uow: UnitOfWork, org_id: str, user_id: str) -> Person | None:
    return uow.session.get(Person, (str(org_id), str(user_id)))


def member_view(m: Membership) -> dict:
    return {"membership_id": m.id, "program_id": m.program_id, "user_id": m.user_id, "email": m.email,
            "full_name": m.full_name, "state": m.state, "contract_id": m.contract_id,
            "invitation_id": m.invitation_id, "invited_at": m.invited_at, "joined_at": m.joined_at,
            "removed_at": m.removed_at}


def find_membership(uow: UnitOfWork, program_id: str, user_id: str, lock: bool = False) -> Membership | None:
    query = select(Membership).where(Membership.program_id == str(program_id), Membership.user_id == str(user_id))
    if lock:  # read the row as it is now that we hold its lock
        query = query.with_for_update().execution_options(populate_existing=True)
    return uow.session.scalar(query)


def list_members(uow: UnitOfWork, org_id: str, program_id: str, state: str | None, q: str | None, limit: int,
                 cursor: str | None) -> dict:
    found = get_program(uow, org_id, program_id)
    query = select(Membership).where(Membership.program_id == found.id)
    if state:
        query = query.where(Membership.state == state)
    if q and q.strip():
        query = query.where(SEARCH_TEXT.like(contains(q)))
    rows, next_cursor = keyset_page(uow.session, query, [Membership.sort_name, Membership.id], cursor, limit,
                                    lambda row: (row[0].sort_name, row[0].id))
    return page_of(rows, next_cursor, lambda row: member_view(row[0]))


def membership_state(uow: UnitOfWork, program_id: str, user_id: str) -> str | None:
    return uow.session.scalar(select(Membership.state).where(Membership.program_id == str(program_id),
                                                             Membership.user_id == str(user_id)))


def person_in_programs(uow: UnitOfWork, org_id: str, user_id: str, program_ids: list[str]) -> bool:
    """Member, invitee or past member of any of these programs (their history stays visible)."""
    if not program_ids:
        return False
    return uow.session.scalar(select(Membership.id).where(
        Membership.org_id == str(org_id), Membership.user_id == str(user_id),
        Membership.program_id.in_(uuids(program_ids))).limit(1)) is not None


def person_in_org(uow: UnitOfWork, org_id: str, user_id: str) -> bool:
    """Known in the organization: a profile there, or a membership (invited,
    member or past member) in one of its programs."""
    if known_person(uow, org_id, user_id) is not None:
        return True
    return uow.session.scalar(select(Membership.id).where(
        Membership.org_id == str(org_id), Membership.user_id == str(user_id)).limit(1)) is not None


# ---------------------------------------------------------------- enrollments and learners


def enrollment_view(uow: UnitOfWork, e: Enrollment, created: bool | None = None, entry=None) -> dict:
    if entry is None:  # the catalog entry, unless the caller has it already
        if e.kind == ItemKind.COURSE:
            entry = courses_by_id(uow, [e.course_id])[e.course_id]
        else:
            entry = specializations_by_id(uow, [e.specialization_id])[e.specialization_id]
    view = {"id": e.id, "program_id": e.program_id, "user_id": e.user_id, "kind": e.kind, "course_id": e.course_id,
            "specialization_id": e.specialization_id, "item_name": entry.name, "item_slug": entry.slug,
            "collection_id": e.collection_id, "enrolled_at": e.enrolled_at, "downgraded_at": e.downgraded_at}
    if created is not None:
        view["created"] = created
    return view


def current_enrollments(uow: UnitOfWork, membership_id: str) -> int:
    return uow.session.scalar(select(func.count()).select_from(Enrollment).where(
        Enrollment.membership_id == membership_id, Enrollment.downgraded_at.is_(None)))


def my_programs(uow: UnitOfWork, user_id: str, limit: int, cursor: str | None, public_url: str) -> dict:
    query = (select(Membership, Program).join(Program, Program.id == Membership.program_id)
             .where(Membership.user_id == str(user_id), Membership.state.in_((MemberState.MEMBER, MemberState.INVITED)),
                    Program.removed_at.is_(None)))
    rows, next_cursor = keyset_page(uow.session, query, [Program.name, Program.id], cursor, limit,
                                    lambda row: (row[1].name, row[1].id))
    counts = dict(uow.session.execute(
        select(Enrollment.membership_id, func.count()).where(
            Enrollment.membership_id.in_([m.id for m, _ in rows]), Enrollment.downgraded_at.is_(None))
        .group_by(Enrollment.membership_id)).all()) if rows else {}
    items = [{**program_ref(p, public_url), "tagline": p.tagline, "state": m.state, "joined_at": m.joined_at,
              "enrollment_limit": p.enrollment_limit, "enrollment_count": counts.get(m.id, 0)} for m, p in rows]
    return {"items": items, "next_cursor": next_cursor}


def my_enrollments(uow: UnitOfWork, user_id: str, limit: int, cursor: str | None) -> dict:
    query = select(Enrollment).where(Enrollment.user_id == str(user_id))
    rows, next_cursor = keyset_page(uow.session, query, [Enrollment.id], cursor, limit, lambda row: (row[0].id,))
    courses = courses_by_id(uow, [r[0].course_id for r in rows if r[0].course_id])
    specs = specializations_by_id(uow, [r[0].specialization_id for r in rows if r[0].specialization_id])
    items = [enrollment_view(uow, e, entry=courses[e.course_id] if e.kind == ItemKind.COURSE
                             else specs[e.specialization_id]) for (e,) in rows]
    return {"items": items, "next_cursor": next_cursor}
