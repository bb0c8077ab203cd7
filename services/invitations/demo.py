"""Demo invitations for `make run`: two people invited to the demo program,
one emailed ("Send invitation"), one not ("Create invitation"). The people
come from identity (scripts/demo.py asks it). Idempotent: a person with any
invitation to the program is left alone."""
from sqlalchemy import select

from servicekit.standalone import unit_of_work
from services.invitations import commands
from services.invitations.models import Invitation

DEMO_INVITEES = [("lee.learner@acme.example", "Lee Learner", "ACME-1001", True),
                 ("sam.student@acme.example", "Sam Student", "ACME-1002", False)]


def add_demo(org_id: str, program: dict, contract_id: str, people: list[dict], custom_message: str | None,
             database_url: str | None = None) -> list[str]:
    """people: identity's persons of DEMO_INVITEES (user_id, email, full_name, external_id). Returns the
    emails invited now."""
    send = {email: send_email for email, _, _, send_email in DEMO_INVITEES}
    invited = []
    with unit_of_work("invitations", database_url) as uow:
        for person in people:
            exists = uow.session.scalar(select(Invitation.id).where(Invitation.program_id == program["id"],
                                                                   Invitation.email == person["email"]))
            if exists is None:
                commands.create_invitation(uow, org_id, program, contract_id, person, send.get(person["email"], False),
                                         None, custom_message)
                invited.append(person["email"])
    return invited
