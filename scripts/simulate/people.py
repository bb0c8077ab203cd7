"""The demo organization's learners, for `make run` (scripts/demo.py calls add_demo_learners before the
services start, as it does for the rest of the demo data).

The gateway has no route that makes a member without an email round trip
(an invitation link or a verification link), so the demo data gives each
demo learner what a real learner would have by then: an account with the
demo password and a verified email, an organization profile, and a pending
invitation (not emailed) to the demo program. Everything after that goes
through the gateway, done by the simulator signed in as each learner:
joining by the program URL, enrolling, and then the learning activity.

Idempotent: an existing account keeps its password; a person with any
invitation to the program is not invited again."""
import os

DEMO_LEARNER_COUNT = int(os.environ.get("DEMO_LEARNERS", "48"))
FIRST = ["Alex", "Bea", "Carlos", "Dana", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam",
         "Maya", "Noor", "Oscar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wei", "Yusuf"]
LAST = ["Andersen", "Baptiste", "Chen", "Dubois", "Eze", "Fischer", "Garcia", "Haddad", "Ivanova", "Jensen",
        "Kowalski", "Lopez", "Mensah", "Nakamura", "Okafor", "Patel", "Rossi", "Silva", "Tanaka", "Varga"]


def demo_learners(count: int = DEMO_LEARNER_COUNT, domain: str = "acme.example",
                  prefix: str = "ACME") -> list[tuple[str, str, str]]:
    """[(email, full name, external id)], the same every time."""
    people = []
    for n in range(count):
        first, last = FIRST[n % len(FIRST)], LAST[(n * 7 + n // len(FIRST)) % len(LAST)]
        email = f"{first}.{last}{'' if n < len(FIRST) else n // len(FIRST) + 1}@{domain}".lower()
        people.append((email, f"{first} {last}", f"{prefix}-{2001 + n}"))
    return people


def add_demo_learners(org_id: str, program: dict, contract_id: str, password: str,
                      learners: list[tuple[str, str, str]] | None = None,
                      identity_url: str | None = None, invitations_url: str | None = None) -> int:
    """Accounts (password, verified), profiles and pending invitations (not emailed) of the demo learners to
    `program` ({id, name}). Returns how many people were invited now."""
    from servicekit.standalone import unit_of_work
    from services.identity import credentials, queries
    from services.identity.commands import accounts
    from services.identity.commands.profiles import ensure_people
    from services.invitations.demo import add_demo as add_invitations

    learners = demo_learners() if learners is None else learners
    password_hash = None
    with unit_of_work("identity", identity_url) as uow:
        people = ensure_people(uow, org_id, [{"email": email, "full_name": name, "external_id": external_id}
                                             for email, name, external_id in learners], only_fill_empty=True)
        for person in people:
            if isinstance(person, Exception):
                raise person
            user = queries.find_user(uow, person["email"])
            if user.password_hash is None:
                # one hash for all: these accounts are demo data with one published password
                password_hash = password_hash or credentials.hash_password(password)
                user.password_hash = password_hash
            accounts.mark_verified(uow, user)
    return len(add_invitations(org_id, program, contract_id, people, None, invitations_url))


def add_org_with_learners(name: str, admin_email: str, password: str, learner_count: int,
                          database_url=lambda service: None, settings: dict | None = None) -> dict:
    """An organization like the demo's (org admin, the demo catalog, contract and program with two
    collections) with `learner_count` invited demo learners of the admin's email domain: for tests and
    for more simulated organizations. `database_url(service)`: where each service's database is (default:
    the environment's). Idempotent. Returns {org_id, program_id, learners}."""
    from servicekit.standalone import unit_of_work
    from services.identity.commands.organizations import create_org_with_admin
    from services.programs.demo import add_demo as add_programs

    with unit_of_work("identity", database_url("identity")) as uow:
        org = create_org_with_admin(uow, name, admin_email, "Org Admin", password, settings=settings)
    academy = add_programs(org["org_id"], database_url("programs"))
    domain = admin_email.rsplit("@", 1)[1]
    learners = demo_learners(learner_count, domain=domain, prefix=domain.split(".")[0].upper())
    add_demo_learners(org["org_id"], {"id": academy["program_id"], "name": academy["program_name"]},
                      academy["contract_id"], password, learners, database_url("identity"),
                      database_url("invitations"))
    return {"org_id": org["org_id"], "program_id": academy["program_id"], "learners": learners}
