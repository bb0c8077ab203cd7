"""Demo data for `make run`: the organization Acme with an org admin.
Idempotent: running it again changes nothing and prints the same logins."""
import os

from servicekit import config
from servicekit.standalone import unit_of_work
from services.identity.commands import create_org_with_admin

DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "acme-demo-password")
ORG_ADMIN = "admin@acme.example"


def main() -> None:
    with unit_of_work("identity") as uow:
        org = create_org_with_admin(uow, "Acme", ORG_ADMIN, "Ada Admin", DEMO_PASSWORD,
                                    settings={"brand_color": "#1f4e79", "timezone": "America/New_York",
                                              "industry": "Manufacturing", "company_size": "1001-5000",
                                              "region": "NORTH_AMERICA",
                                              "default_invitation_message": "Welcome to Acme Academy!"})
    print("\nDemo data ready:")
    print(f"  organization  Acme ({org['org_id']})")
    print(f"  org admin     {ORG_ADMIN} / {DEMO_PASSWORD}")
    print(f"  gateway       {config.public_url()}  (API docs: {config.public_url()}/v1/openapi.json)")
    print(f"  emails        {os.path.abspath(os.environ.get('MAILSINK_DIR', 'var/mail'))}/*.eml\n")


if __name__ == "__main__":
    main()
