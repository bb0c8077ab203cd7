"""Memberships: joining (takes a license), removal (frees it, downgrades the
enrollments), and the people projection that names members in lists."""
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, text, update

from contracts.errors import not_found
from contracts.programs import ENROLLMENT_DOWNGRADED, MEMBER_JOINED, MEMBER_REMOVED, MemberState, RemovalReason
from servicekit.bulk import arrays, insert_rows, unnest
from servicekit.db import UnitOfWork
from servicekit.models import normalize_email, parse_uuid
from services.programs.models import Contract, Membership, Program
from services.programs.queries import (
    find_membership,
    get_contract,
    get_program,
    known_person,
    member_view,
    now,
    program_with_contract,
    today,
)

PERSON_COLUMNS = {"user_id": "text", "email": "text", "full_name": "text"}
NAMED_COLUMNS = {**PERSON_COLUMNS, "sort_name": "text"}


# ---------------------------------------------------------------- people (projection)


def remember_person(uow: UnitOfWork, org_id: str, user_id: str, email: str | None, full_name: str | None) -> None:
    remember_people(uow, org_id, [{"user_id": user_id, "email": email, "full_name": full_name}])


def remember_people(uow: UnitOfWork, org_id: str, people: list[dict]) -> None:
    """Who these people ({user_id, email, full_name}) are; the names shown in
    members lists follow."""
    rows = {}
    for p in people:
        if p.get("email"):
            email = normalize_email(p["email"])
            name = (p.get("full_name") or email).strip()
            rows[str(p["user_id"])] = {"user_id": str(p["user_id"]), "email": email, "full_name": name,
                                       "sort_name": name.lower()}
    if not rows:
        return
    uow.session.flush()  # the statements below bypass the ORM
    people_rows = [rows[user_id] for user_id in sorted(rows)]  # a stable order: no deadlocks between batches
    insert_rows(uow.session, "people", PERSON_COLUMNS, people_rows, constants={"org_id": ("uuid", str(org_id))},
                conflict="ON CONFLICT (org_id, user_id) DO UPDATE SET email = EXCLUDED.email, "
                         "full_name = EXCLUDED.full_name")
    uow.session.execute(text(
        "UPDATE memberships m SET email = v.email, full_name = v.full_name, sort_name = v.sort_name "
        f"FROM {unnest(NAMED_COLUMNS)} WHERE m.org_id = CAST(:org_id AS uuid) AND m.user_id = v.user_id"),
        {"org_id": str(org_id), **arrays(people_rows, NAMED_COLUMNS)})
    uow.session.expire_all()  # memberships loaded before see the new names


# ---------------------------------------------------------------- joining and leaving


def member_joined_event(program: Program, membership: Membership) -> dict:
    return {"membership_id": membership.id, "org_id": program.org_id, "program_id": program.id,
            "program_name": program.name, "user_id": membership.user_id, "email": membership.email,
            "full_name": membership.full_name, "contract_id": membership.contract_id,
            "invitation_id": membership.invitation_id, "joined_at": membership.joined_at.isoformat()}


def join_program(uow: UnitOfWork, org_id: str, program_id: str, user_id: str, contract_id: str,
                 invitation_id: str | None, person: dict | None,
                 fetch_person: Callable[[], dict | None] | None = None) -> dict:
    """A person takes a license of `contract_id` and becomes a member.

    `person` ({email, full_name}) names them; without it and without a known
    profile, `fetch_person()` is asked (before any lock is taken).
    The contract row is locked first, so concurrent joins against one contract
    queue up and the license count is checked and taken in one transaction:
    the last license goes to exactly one of them. The program row is held in
    share mode first: a removal of the program waits for the join (and then
    removes the new member), never commits between its read and its insert."""
    if person is None and fetch_person is not None and known_person(uow, org_id, user_id) is None:
        person = fetch_person()
    program = program_with_contract(uow, org_id, program_id, contract_id, share=True)
    contract = get_contract(uow, org_id, contract_id, lock=True)
    membership = find_membership(uow, program.id, user_id, lock=True)
    if membership is not None:
        if membership.joined_with(invitation_id):
            return member_view(membership)  # the same invitation again: idempotent
        membership.check_can_join()
    contract.take_license(today())
    if person:
        remember_person(uow, org_id, user_id, person.get("email"), person.get("full_name"))
    known = known_person(uow, org_id, user_id)
    if membership is None:
        membership = Membership(org_id=program.org_id, program_id=program.id, user_id=str(user_id))
    membership.join(contract.id, invitation_id, now(), known)  # before add: loading nothing flushes a half row
    uow.session.add(membership)
    uow.session.flush()
    uow.publish(MEMBER_JOINED, member_joined_event(program, membership), org_id=program.org_id)
    return member_view(membership)


def remove_memberships(uow: UnitOfWork, program: Program, which, reason: RemovalReason,
                       removed_at: datetime | None = None, notify: bool = True) -> int:
    """The members `which` selects (a condition on Membership) leave the
    program: DELETED_MEMBER, licenses freed, enrollments downgraded, an event
    for each. Set-based (a program of 100,000 members is a handful of
    statements); the caller has locked the contracts. Returns how many left."""
    removed_at = removed_at or now()
    uow.session.flush()  # the statements below bypass the ORM
    members = uow.session.execute(
        update(Membership).where(which, Membership.state == MemberState.MEMBER)
        .values(state=MemberState.DELETED_MEMBER, removed_at=removed_at)
        .returning(Membership.id, Membership.user_id, Membership.email, Membership.full_name, Membership.contract_id)
        .execution_options(synchronize_session=False)).all()
    freed = Counter(m.contract_id for m in members if m.contract_id)
    if freed:
        uow.session.execute(text(
            "UPDATE contracts c SET licenses_used = greatest(c.licenses_used - v.freed, 0) "
            f"FROM {unnest({'id': 'uuid', 'freed': 'integer'})} WHERE c.id = v.id"),
            {"id": list(freed), "freed": list(freed.values())})
    downgraded = uow.session.execute(text(
        "UPDATE enrollments SET downgraded_at = :at WHERE program_id = :program_id AND downgraded_at IS NULL "
        "AND membership_id = ANY(CAST(:ids AS uuid[])) "
        "RETURNING id::text AS id, user_id, course_id, specialization_id"),  # ids as the strings events carry
        {"at": removed_at, "program_id": program.id, "ids": [m.id for m in members]}).all() if members else []
    when = removed_at.isoformat()
    uow.publish_many(ENROLLMENT_DOWNGRADED, [(
        {"enrollment_id": e.id, "org_id": program.org_id, "program_id": program.id, "user_id": e.user_id,
         "course_id": e.course_id, "specialization_id": e.specialization_id, "downgraded_at": when},
        program.org_id) for e in downgraded])
    uow.publish_many(MEMBER_REMOVED, [(
        {"membership_id": m.id, "org_id": program.org_id, "program_id": program.id, "program_name": program.name,
         "user_id": m.user_id, "email": m.email, "full_name": m.full_name, "contract_id": m.contract_id,
         "reason": reason, "removed_at": when, **({} if notify else {"notify": False})}, program.org_id)
        for m in members])
    uow.session.expire_all()  # memberships, contracts and enrollments loaded before are stale
    return len(members)


def lock_contracts(uow: UnitOfWork, contract_ids) -> None:
    """Contract rows before membership rows, in id order: the order joins take
    them in, so a removal and a join never wait on each other in a cycle."""
    ids = sorted({c for c in contract_ids if c})
    if ids:
        uow.session.execute(select(Contract.id).where(Contract.id.in_(ids)).order_by(Contract.id).with_for_update())


def remove_member(uow: UnitOfWork, org_id: str, program_id: str, user_id: str) -> dict:
    program = get_program(uow, org_id, program_id)
    membership = find_membership(uow, program.id, user_id)
    if membership is None:
        raise not_found("member")
    lock_contracts(uow, [membership.contract_id])
    membership = find_membership(uow, program.id, user_id, lock=True)
    membership.check_removable()
    remove_memberships(uow, program, Membership.id == membership.id, RemovalReason.ADMIN_REMOVED)
    return member_view(membership)


def remove_person(uow: UnitOfWork, org_id: str, user_id: str, reason: RemovalReason = RemovalReason.DEPROVISIONED,
                  notify: bool = True) -> dict:
    """The person leaves every program of the organization they are a member
    of, each as an admin's removal does (rule 5: license freed, enrollments
    downgraded, member.removed published; `notify` false: no exit email).
    Their memberships of other organizations are untouched. Idempotent."""
    user_id = parse_uuid(user_id)
    if user_id is None:
        return {"removed": 0, "program_ids": []}
    held = uow.session.execute(select(Membership.program_id, Membership.contract_id).where(
        Membership.org_id == org_id, Membership.user_id == user_id,
        Membership.state == MemberState.MEMBER)).all()
    if not held:
        return {"removed": 0, "program_ids": []}
    lock_contracts(uow, [contract_id for _, contract_id in held])
    removed, program_ids = 0, []
    for program_id in sorted({program_id for program_id, _ in held}):
        program = uow.session.get(Program, program_id)
        if program is None or program.org_id != org_id:
            continue
        count = remove_memberships(uow, program, (Membership.program_id == program.id)
                                   & (Membership.user_id == user_id), reason, notify=notify)
        if count:
            removed += count
            program_ids.append(program.id)
    return {"removed": removed, "program_ids": program_ids}
