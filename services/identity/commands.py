"""identity's commands.

    python -m services.identity.commands create-org --name Acme \
        --admin-email admin@acme.example --admin-name "Ada Admin" [--admin-password PW]

Creates the organization and its first org admin (idempotent: an existing
organization admin of that name is reused). Without --admin-password a random
one is generated and printed."""
import argparse
import secrets

from sqlalchemy import select

from servicekit.standalone import unit_of_work
from services.identity import credentials, domain
from services.identity.models import AdminRole, Organization


def create_org_with_admin(uow, name: str, admin_email: str, admin_name: str, admin_password: str,
                          settings: dict | None = None) -> dict:
    user = domain.find_user(uow, admin_email)
    if user is not None:
        existing = uow.session.execute(
            select(Organization).join(AdminRole, AdminRole.org_id == Organization.id)
            .where(AdminRole.user_id == user.id, AdminRole.role == "ORG_ADMIN", Organization.name == name)
        ).scalar()
        if existing is not None:
            return {"org_id": existing.id, "admin_user_id": user.id, "created": False}
    org = domain.create_org(uow, {"name": name, **(settings or {})})
    domain.ensure_person(uow, org.id, admin_email, admin_name, via="COMMAND")
    user = domain.find_user(uow, admin_email)
    if user.password_hash is None:  # set before the role, so no first-password email is sent
        user.password_hash = credentials.hash_password(admin_password)
    domain.mark_verified(uow, user)
    domain.add_admin(uow, org.id, admin_email, admin_name, "ORG_ADMIN", [])
    return {"org_id": org.id, "admin_user_id": user.id, "created": True}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.identity.commands")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create-org", help="create an organization and its first org admin")
    create.add_argument("--name", required=True)
    create.add_argument("--admin-email", required=True)
    create.add_argument("--admin-name", required=True)
    create.add_argument("--admin-password")
    args = parser.parse_args(argv)
    password = args.admin_password or secrets.token_urlsafe(12)
    with unit_of_work("identity") as uow:
        result = create_org_with_admin(uow, args.name, args.admin_email, args.admin_name, password)
    if result["created"]:
        print(f"organization {args.name} ({result['org_id']}); org admin {args.admin_email} password: {password}")
    else:
        print(f"organization {args.name} ({result['org_id']}) already exists with admin {args.admin_email}")


if __name__ == "__main__":
    main()
