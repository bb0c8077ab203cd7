"""Organizations: created (with a first org admin) and their settings changed."""
from sqlalchemy import select

from contracts.common import AdminRole as Role
from contracts.identity import ORG_CREATED, ORG_UPDATED, OrgSettingsSchema
from servicekit.db import UnitOfWork
from services.identity.commands import accounts, admins
from services.identity.models import AdminRole, Organization
from services.identity.queries import find_user, get_org


def org_created_payload(org: Organization) -> dict:
    return {"org_id": org.id, "name": org.name, "brand_color": org.brand_color, "logo_url": org.logo_url,
            "timezone": org.timezone, "settings": OrgSettingsSchema().dump(org.settings())}


def org_updated_payload(org: Organization, changed: list[str], before: dict | None = None) -> dict:
    """`before`: the settings before the change (the audit log's before/after of the changed fields)."""
    payload = {"org_id": org.id, "changed": sorted(changed), "settings": OrgSettingsSchema().dump(org.settings())}
    if before is not None:
        payload["previous"] = {name: before.get(name) for name in changed}
    return payload


def create_org(uow: UnitOfWork, settings: dict) -> Organization:
    org = Organization(**settings)
    uow.session.add(org)
    uow.session.flush()
    uow.publish(ORG_CREATED, org_created_payload(org), org_id=org.id)
    return org


def update_org(uow: UnitOfWork, org_id: str, changes: dict) -> Organization:
    org = get_org(uow, org_id)
    before = OrgSettingsSchema().dump(org.settings())
    changed = org.apply(changes)
    if changed:
        uow.session.flush()
        uow.publish(ORG_UPDATED, org_updated_payload(org, changed, before), org_id=org.id)
    return org


def create_org_with_admin(uow: UnitOfWork, name: str, admin_email: str, admin_name: str, admin_password: str,
                          settings: dict | None = None) -> dict:
    """The organization and its first org admin (idempotent: an existing
    organization of that name with this org admin is reused)."""
    user = find_user(uow, admin_email)
    if user is not None:
        existing = uow.session.execute(
            select(Organization).join(AdminRole, AdminRole.org_id == Organization.id)
            .where(AdminRole.user_id == user.id, AdminRole.role == Role.ORG_ADMIN, Organization.name == name)
        ).scalar()
        if existing is not None:
            return {"org_id": existing.id, "admin_user_id": user.id, "created": False}
    org = create_org(uow, {"name": name, **(settings or {})})
    user = accounts.ensure_verified_person(uow, org.id, admin_email, admin_name, admin_password)  # before the role
    admins.add_admin(uow, org.id, admin_email, admin_name, Role.ORG_ADMIN, [])
    return {"org_id": org.id, "admin_user_id": user.id, "created": True}
