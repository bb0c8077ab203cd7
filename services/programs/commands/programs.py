"""Programs: create, change (name, tagline, banner, enrollment limit, contracts), remove."""
from sqlalchemy import delete, select

from contracts.errors import invalid
from contracts.programs import PROGRAM_CREATED, PROGRAM_REMOVED, PROGRAM_UPDATED, MemberState, RemovalReason
from servicekit.db import UnitOfWork
from servicekit.models import parse_uuid
from services.programs.commands import conflict_on_duplicate
from services.programs.commands.memberships import lock_contracts, remove_memberships
from services.programs.models import Contract, Membership, Program, ProgramContract
from services.programs.queries import contract_ids_of, get_program, now, program_view, uuids


def program_event(uow: UnitOfWork, program: Program, public_url: str) -> dict:
    return {"program_id": program.id, "org_id": program.org_id, "name": program.name, "slug": program.slug,
            "tagline": program.tagline, "join_url": program.join_url(public_url),
            "contract_ids": contract_ids_of(uow, program.id), "enrollment_limit": program.enrollment_limit}


def _set_contracts(uow: UnitOfWork, program: Program, contract_ids: list[str]) -> None:
    wanted = sorted(set(contract_ids))
    found = set(uow.session.scalars(select(Contract.id).where(Contract.id.in_(uuids(wanted)),
                                                              Contract.org_id == program.org_id)))
    unknown = [cid for cid in wanted if parse_uuid(cid) not in found]
    if unknown:
        raise invalid({"contract_ids": [f"unknown contracts: {unknown}"]})
    uow.session.execute(delete(ProgramContract).where(ProgramContract.program_id == program.id))
    uow.session.add_all(ProgramContract(program_id=program.id, contract_id=cid) for cid in sorted(found))


def create_program(uow: UnitOfWork, org_id: str, data: dict, public_url: str) -> dict:
    data = dict(data)
    contract_ids = data.pop("contract_ids")
    program = Program(org_id=str(org_id), **data)
    for _ in range(10):  # 36^6 slugs: a collision is rare, retrying is enough
        program.slug = Program.new_slug()
        if uow.session.scalar(select(Program.id).where(Program.slug == program.slug)) is None:
            break
    uow.session.add(program)
    conflict_on_duplicate(uow, "program", "name")
    _set_contracts(uow, program, contract_ids)
    uow.session.flush()
    uow.publish(PROGRAM_CREATED, program_event(uow, program, public_url), org_id=org_id)
    return program_view(uow, program, public_url, with_counts=True)


def update_program(uow: UnitOfWork, org_id: str, program_id: str, changes: dict, public_url: str) -> dict:
    program = get_program(uow, org_id, program_id, lock=True)
    changes = dict(changes)
    changed = []
    previous = {}  # the changed fields' values before (the audit log's before/after)
    if "contract_ids" in changes:
        wanted = sorted(set(changes.pop("contract_ids")))
        current = contract_ids_of(uow, program.id)
        if wanted != current:
            _set_contracts(uow, program, wanted)
            changed.append("contract_ids")
            previous["contract_ids"] = current
    for name, value in changes.items():
        if getattr(program, name) != value:
            previous[name] = getattr(program, name)
            setattr(program, name, value)
            changed.append(name)
    if changed:
        conflict_on_duplicate(uow, "program", "name")
        uow.publish(PROGRAM_UPDATED, {**program_event(uow, program, public_url), "changed": sorted(changed),
                                      "previous": previous}, org_id=org_id)
    return program_view(uow, program, public_url, with_counts=True)


def remove_program(uow: UnitOfWork, org_id: str, program_id: str) -> dict:
    """Irreversible: every member is removed (license freed, enrollments
    downgraded, one event each), then the program. Set-based: a program of
    100,000 members is removed with a handful of statements."""
    program = get_program(uow, org_id, program_id, lock=True)
    lock_contracts(uow, uow.session.scalars(select(Membership.contract_id).distinct().where(
        Membership.program_id == program.id, Membership.state == MemberState.MEMBER)).all())
    removed_at = now()
    members = remove_memberships(uow, program, Membership.program_id == program.id, RemovalReason.PROGRAM_REMOVED,
                                 removed_at)
    program.removed_at = removed_at
    uow.publish(PROGRAM_REMOVED, {"program_id": program.id, "org_id": program.org_id,
                                                "name": program.name, "slug": program.slug,
                                                "removed_at": removed_at.isoformat()}, org_id=org_id)
    return {"program_id": program.id, "removed_members": members}
