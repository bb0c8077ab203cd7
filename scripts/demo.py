"""Demo data for `make run`: the organization Acme with an org admin.
Idempotent: running it again changes nothing and prints the same logins."""
import os

from scripts.simulate.people import add_demo_learners, demo_learners
from servicekit import config
from servicekit.standalone import unit_of_work
from services.identity.commands.organizations import create_org_with_admin
from services.invitations.demo import DEMO_INVITEES
from services.invitations.demo import add_demo as add_invitations_demo
from services.programs.demo import add_demo as add_programs_demo

DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "acme-demo-password")
ORG_ADMIN = "admin@acme.example"
PROGRAM_ADMIN = "programs@acme.example"


def add_program_admin(org_id: str, program_id: str) -> None:
    """The demo program admin, with the demo password (set before the role, so no first-password email)."""
    from services.identity import queries
    from services.identity.commands import accounts, admins

    with unit_of_work("identity") as uow:
        accounts.ensure_verified_person(uow, org_id, PROGRAM_ADMIN, "Pat Program-Admin", DEMO_PASSWORD)
        if not any(a["email"] == PROGRAM_ADMIN and program_id in a["program_ids"]
                   for a in queries.list_admins(uow, org_id)):
            admins.add_admin(uow, org_id, PROGRAM_ADMIN, "Pat Program-Admin", "PROGRAM_ADMIN", [program_id])


def add_invitations(org_id: str, academy: dict) -> None:
    """Two demo invitations; identity creates the invitees' accounts and profiles first."""
    from services.identity import queries
    from services.identity.commands.profiles import ensure_person

    with unit_of_work("identity") as uow:
        people = [ensure_person(uow, org_id, email, name, {"external_id": external_id})
                  for email, name, external_id, _ in DEMO_INVITEES]
        message = queries.get_org(uow, org_id).default_invitation_message
    add_invitations_demo(org_id, {"id": academy["program_id"], "name": academy["program_name"]},
                         academy["contract_id"], people, message)


ORG_SETTINGS = {"brand_color": "#1f4e79", "timezone": "America/New_York", "industry": "Manufacturing",
                "company_size": "1001-5000", "region": "NORTH_AMERICA",
                "default_invitation_message": "Welcome to Acme Academy!"}


def add_skills(org_id: str, academy: dict) -> dict:
    """Skill analytics: the taxonomy, Acme's program and synthetic learners, and synthetic
    peer organizations with simulated activity (services/skills/demo.py)."""
    from sqlalchemy import select

    from services.programs.models import CollectionItem
    from services.skills.demo import add_demo as add_skills_demo

    with unit_of_work("programs") as uow:
        items = uow.session.execute(select(CollectionItem.course_id, CollectionItem.specialization_id).where(
            CollectionItem.program_id == academy["program_id"])).all()
    return add_skills_demo(org_id, ORG_SETTINGS, academy["program_id"],
                           sorted({i.course_id for i in items if i.course_id}),
                           sorted({i.specialization_id for i in items if i.specialization_id}))


def main() -> None:
    with unit_of_work("identity") as uow:
        org = create_org_with_admin(uow, "Acme", ORG_ADMIN, "Ada Admin", DEMO_PASSWORD, settings=ORG_SETTINGS)
    academy = add_programs_demo(org["org_id"])
    add_program_admin(org["org_id"], academy["program_id"])
    add_invitations(org["org_id"], academy)
    add_demo_learners(org["org_id"], {"id": academy["program_id"], "name": academy["program_name"]},
                      academy["contract_id"], DEMO_PASSWORD)
    skills = add_skills(org["org_id"], academy)
    print("\nDemo data ready:")
    print(f"  organization  Acme ({org['org_id']})")
    print(f"  org admin     {ORG_ADMIN} / {DEMO_PASSWORD}")
    print(f"  program       {academy['program_name']} ({academy['program_id']}), join link {academy['join_url']}")
    print(f"  program admin {PROGRAM_ADMIN} / {DEMO_PASSWORD}  (Acme Data Academy only)")
    print(f"  invitations   {DEMO_INVITEES[0][0]} (emailed: open its .eml to accept), {DEMO_INVITEES[1][0]}")
    print(f"  learners      {len(demo_learners())} invited (e.g. {demo_learners()[0][0]} / {DEMO_PASSWORD}); "
          "the simulator (python -m scripts.simulate, started by make run) joins, enrolls and sends their activity")
    print(f"  skills        {skills['skills']} skills benchmarked against {skills['peers']} synthetic peers "
          f"(quartiles {', '.join(skills['quartiles'])}): GET /v1/orgs/{org['org_id']}/skills/benchmark")
    gateway = "http://" + os.environ.get("WEB_SERVER_ADDRESS", "127.0.0.1:8000")
    print(f"  console       {config.public_url()}  (sign in with the logins above; every emailed link opens it)")
    print(f"  gateway API   {gateway}  (OpenAPI: {gateway}/v1/openapi.json)")
    print(f"  emails        {os.path.abspath(os.environ.get('MAILSINK_DIR', 'var/mail'))}/*.eml\n")


if __name__ == "__main__":
    main()
