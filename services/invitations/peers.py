"""What invitations asks identity and programs, in one place: the commands
are given a `Peers` and never hold an RPC proxy themselves."""
from nameko.exceptions import RemoteError

from contracts.programs import MemberState


class Peers:
    def __init__(self, identity, programs):
        self.identity = identity
        self.programs = programs

    # ---- programs
    def program_with_contract(self, org_id: str, program_id: str, contract_id: str) -> dict:
        """The program, refused by programs (INVALID_INPUT) unless the contract is one of its contracts:
        the rule is programs' (joining applies it too)."""
        return self.programs.program_with_contract(org_id, program_id, contract_id)

    def program(self, org_id: str, program_id: str) -> dict:
        return self.programs.get_program(org_id, program_id)

    def any_program(self, program_id: str) -> dict:
        """A program by id alone (the holder of an invitation link has no org in hand)."""
        return self.programs.locate_program(program_id)

    def contract(self, org_id: str, contract_id: str) -> dict:
        return self.programs.get_contract(org_id, contract_id)

    def is_member(self, program_id: str, user_id: str) -> bool:
        return self.programs.membership_state(program_id, user_id) == MemberState.MEMBER

    def join_program(self, org_id, program_id, user_id, contract_id, invitation_id, email, full_name) -> dict:
        return self.programs.join_program(org_id, program_id, user_id, contract_id, invitation_id, email, full_name)

    # ---- identity
    def organization(self, org_id: str) -> dict:
        return self.identity.get_organization(org_id)

    def user_by_email(self, email: str) -> dict | None:
        return self.identity.find_user(email)

    def ensure_person(self, org_id: str, person: dict) -> dict:
        """The person's account and organization profile. An invitation only
        fills empty profile fields: it never changes a value (an org admin does)."""
        return retrying_race(self.identity.ensure_person, org_id, person, only_fill_empty=True)

    def ensure_people(self, org_id: str, people: list[dict]) -> list[dict]:
        """identity's person for each, or {"error": ...} for one it refuses;
        empty profile fields filled, as ensure_person."""
        return retrying_race(self.identity.ensure_people, org_id, people, only_fill_empty=True)

    def account_for_invitation(self, email: str, full_name: str, password: str | None,
                               signed_in_user_id: str | None = None, client: str | None = None) -> dict:
        return self.identity.account_for_invitation(email, full_name, password, signed_in_user_id=signed_in_user_id,
                                                    client=client)

    def issue_tokens(self, user_id: str) -> dict:
        return self.identity.issue_tokens(user_id)


def retrying_race(call, *args, **kwargs):
    """identity inserts accounts with ON CONFLICT, but two calls giving one
    external id to two new people at the same moment still collide on its
    unique index (an IntegrityError); asked again, identity finds the holder
    and refuses that person with a reason."""
    try:
        return call(*args, **kwargs)
    except RemoteError as exc:
        if exc.exc_type != "IntegrityError":
            raise
        return call(*args, **kwargs)
