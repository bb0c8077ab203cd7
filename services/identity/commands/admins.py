"""Admin roles: granted (the account and profile are ensured first) and revoked."""
from sqlalchemy import select

from contracts.common import AdminRole as Role
from contracts.errors import AppError, ErrorCode, not_found
from contracts.identity import ADMIN_GRANTED, ADMIN_REVOKED, PasswordResetReason, RegisteredVia
from servicekit.db import UnitOfWork
from servicekit.models import parse_uuid
from services.identity.commands.accounts import distrust_unverified_password, request_password_reset
from services.identity.commands.profiles import ensure_person
from services.identity.commands.sessions import revoke_access_tokens
from services.identity.models import AdminRole, User
from services.identity.queries import admin_view, find_user


def admin_granted_payload(admin: AdminRole, user: User) -> dict:
    return {"admin_id": admin.id, "org_id": admin.org_id, "user_id": user.id, "email": user.email,
            "full_name": user.full_name, "role": admin.role, "program_ids": list(admin.program_ids)}


def add_admin(uow: UnitOfWork, org_id: str, email: str, full_name: str, role: str, program_ids: list[str]) -> dict:
    program_ids = AdminRole.programs_for(role, program_ids)
    ensure_person(uow, org_id, email, full_name, via=RegisteredVia.ADMIN_INVITE)
    user = find_user(uow, email)
    admin = uow.session.scalar(select(AdminRole).where(AdminRole.org_id == org_id, AdminRole.user_id == user.id,
                                                       AdminRole.role == role).with_for_update())
    if admin is not None:
        admin.grant_again(program_ids)  # only widens: live tokens may keep the narrower roles
    else:
        admin = AdminRole(org_id=org_id, user_id=user.id, role=role, program_ids=program_ids)
        uow.session.add(admin)
    uow.session.flush()
    uow.session.refresh(admin)
    distrust_unverified_password(uow, user)
    if user.password_hash is None:
        request_password_reset(uow, user.email, reason=PasswordResetReason.FIRST_PASSWORD, org_id=org_id,
                               given_name=full_name)
    uow.publish(ADMIN_GRANTED, admin_granted_payload(admin, user), org_id=org_id)
    return admin_view(admin, user)


def remove_admin(uow: UnitOfWork, org_id: str, admin_id: str, acting_user_id: str | None) -> None:
    admin = uow.session.get(AdminRole, admin_id) if parse_uuid(admin_id) else None
    if admin is None or admin.org_id != org_id:
        raise not_found("admin")
    if admin.role == Role.ORG_ADMIN:
        others = uow.session.scalar(
            select(AdminRole.id).where(AdminRole.org_id == org_id, AdminRole.role == Role.ORG_ADMIN,
                                       AdminRole.id != admin_id).limit(1)
        )
        if others is None:
            raise AppError(ErrorCode.RULE_VIOLATION, "an organization keeps at least one organization admin")
    uow.session.delete(admin)
    revoke_access_tokens(uow, admin.user_id)  # the role leaves live access tokens too
    uow.publish(ADMIN_REVOKED, {"admin_id": admin.id, "org_id": org_id, "user_id": admin.user_id,
                                              "role": admin.role}, org_id=org_id)
