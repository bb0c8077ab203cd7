"""Enrollments: a member takes a course or specialization of the curriculum,
within the program's enrollment limit."""
from sqlalchemy import select

from contracts.errors import AppError, ErrorCode, invalid, not_found
from contracts.programs import ENROLLMENT_CREATED, ItemKind
from servicekit.db import UnitOfWork
from servicekit.models import parse_uuid
from services.programs.models import Collection, Enrollment, Membership, Program
from services.programs.queries import (
    courses_by_id,
    current_enrollments,
    enrollment_view,
    find_membership,
    get_program,
    in_curriculum,
    now,
    specializations_by_id,
)


def enrollment_created_event(program: Program, membership: Membership, enrollment: Enrollment, view: dict) -> dict:
    return {"enrollment_id": enrollment.id, "org_id": program.org_id, "program_id": program.id,
            "user_id": membership.user_id, "email": membership.email, "full_name": membership.full_name,
            "kind": enrollment.kind, "course_id": enrollment.course_id,
            "specialization_id": enrollment.specialization_id, "item_name": view["item_name"],
            "item_slug": view["item_slug"], "collection_id": enrollment.collection_id,
            "enrolled_at": enrollment.enrolled_at.isoformat()}


def enroll(uow: UnitOfWork, org_id: str, program_id: str, user_id: str, kind: str, item_id: str,
           collection_id: str | None) -> dict:
    program = get_program(uow, org_id, program_id)
    # The membership row lock serializes one learner's enrollments in the
    # program, so parallel requests cannot pass the limit together.
    membership = find_membership(uow, program.id, user_id, lock=True)
    if membership is None:  # never invited: the program is none of their business
        raise not_found("program")
    membership.check_can_enroll()
    if collection_id:
        collection_id = parse_uuid(collection_id)
        owner = collection_id and uow.session.scalar(select(Collection.program_id)
                                                     .where(Collection.id == collection_id))
        if owner != program.id:
            raise invalid({"collection_id": ["not a collection of this program"]})
    entries = (courses_by_id if kind == ItemKind.COURSE else specializations_by_id)(uow, [item_id])
    if item_id not in entries or not in_curriculum(uow, program.id, kind, item_id, collection_id):
        raise AppError(ErrorCode.NOT_IN_CURRICULUM, f"this {kind.lower()} is not in the program's curriculum"
                       + (" collection" if collection_id else ""))
    column = Enrollment.course_id if kind == ItemKind.COURSE else Enrollment.specialization_id
    enrollment = uow.session.scalar(select(Enrollment).where(Enrollment.membership_id == membership.id,
                                                             Enrollment.kind == kind, column == item_id))
    if enrollment is not None and enrollment.is_current:
        return enrollment_view(uow, enrollment, created=False, entry=entries[item_id])  # enrolling again: idempotent
    if program.enrollment_limit is not None:
        program.check_enrollment_room(current_enrollments(uow, membership.id))
    if enrollment is None:
        enrollment = Enrollment(org_id=program.org_id, program_id=program.id, membership_id=membership.id,
                                user_id=membership.user_id, kind=kind,
                                course_id=item_id if kind == ItemKind.COURSE else None,
                                specialization_id=item_id if kind == ItemKind.SPECIALIZATION else None)
        uow.session.add(enrollment)
    enrollment.start(collection_id, now())
    uow.session.flush()
    view = enrollment_view(uow, enrollment, created=True, entry=entries[item_id])
    uow.publish(ENROLLMENT_CREATED, enrollment_created_event(program, membership, enrollment, view),
                org_id=program.org_id)
    return view
