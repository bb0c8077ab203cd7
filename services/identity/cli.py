"""identity's command line.

    python -m services.identity.cli create-org --name Acme \
        --admin-email admin@acme.example --admin-name "Ada Admin" [--admin-password PW]

Creates the organization and its first org admin (idempotent: an existing
organization admin of that name is reused). Without --admin-password a random
one is generated and printed.

    python -m services.identity.cli verify-domain --org ORG_ID --domain acme.example

Records an organization's email domain as verified (single sign-on, docs/sso.md
"Verifying a domain"), once the operator has checked the proof; refused when
another organization verified it."""
import argparse
import secrets

from servicekit.standalone import unit_of_work
from services.identity.commands.organizations import create_org_with_admin


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.identity.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create-org", help="create an organization and its first org admin")
    create.add_argument("--name", required=True)
    create.add_argument("--admin-email", required=True)
    create.add_argument("--admin-name", required=True)
    create.add_argument("--admin-password")
    verify = sub.add_parser("verify-domain", help="record an email domain as verified for an organization (SSO)")
    verify.add_argument("--org", required=True)
    verify.add_argument("--domain", required=True)
    args = parser.parse_args(argv)
    if args.command == "verify-domain":
        from contracts.errors import AppError
        from services.identity.sso.config import verify_domain

        try:
            with unit_of_work("identity") as uow:
                row = verify_domain(uow, args.org, args.domain)
        except AppError as refused:
            raise SystemExit(f"refused: {refused.code}: {refused.message}") from None
        print(f"domain {row.domain} verified for organization {row.org_id}")
        return
    password = args.admin_password or secrets.token_urlsafe(12)
    with unit_of_work("identity") as uow:
        result = create_org_with_admin(uow, args.name, args.admin_email, args.admin_name, password)
    if result["created"]:
        print(f"organization {args.name} ({result['org_id']}); org admin {args.admin_email} password: {password}")
    else:
        print(f"organization {args.name} ({result['org_id']}) already exists with admin {args.admin_email}")


if __name__ == "__main__":
    main()
