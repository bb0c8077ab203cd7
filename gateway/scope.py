"""Where an object lives and whether the caller may touch it: the one scope
helper every route module uses.

Ownership lives in the services (a program in programs, an invitation in
invitations, a message in messaging): the gateway asks where the object is
(404 if nowhere) and checks the caller's roles against it. Another
organization's object is 404, an action the caller's role may not take 403
(`Principal`'s checks)."""
from contracts.errors import AppError, ErrorCode
from gateway.auth import Principal


class Scope:
    def __init__(self, identity, programs, invitations, messaging):
        self.identity = identity
        self.programs = programs
        self.invitations = invitations
        self.messaging = messaging

    def program(self, principal: Principal, program_id: str) -> dict:
        """The program (`{id, org_id, ...}`) if the caller administers it."""
        program = self.programs.locate_program(program_id)
        principal.require_program_admin(program["org_id"], program["id"])
        return program

    def collection(self, principal: Principal, collection_id: str) -> dict:
        return self._in_program(principal, self.programs.locate_collection(collection_id), "collection")

    def contract(self, principal: Principal, contract_id: str) -> dict:
        """Contracts are an organization-level matter: org admins only (a program
        admin of its organization gets 403; anyone else the 404 of an unknown id)."""
        contract = self.programs.locate_contract(contract_id)
        if not principal.is_admin(contract["org_id"]):
            raise AppError(ErrorCode.NOT_FOUND, "contract not found")
        principal.require_org_admin(contract["org_id"])
        return contract

    def invitation(self, principal: Principal, invitation_id: str) -> dict:
        return self._in_program(principal, self.invitations.locate_invitation(invitation_id), "invitation")

    def import_job(self, principal: Principal, import_id: str) -> dict:
        return self._in_program(principal, self.invitations.locate_import(import_id), "import")

    @staticmethod
    def _in_program(principal: Principal, where: dict, what: str) -> dict:
        """An object of a program (`where`: `{org_id, program_id, ...}`), if the caller administers that program."""
        principal.require_program_admin(where["org_id"], where["program_id"], what)
        return where

    def message_org(self, principal: Principal, message_id: str) -> str:
        """The message's organization, if the caller administers it."""
        org_id = self.messaging.locate_message(message_id)["org_id"]
        if not principal.is_admin(org_id):
            raise AppError(ErrorCode.NOT_FOUND, "message not found")
        return org_id

    def person(self, principal: Principal, org_id: str, user_id: str) -> None:
        """Org admins see everyone of their org; program admins the people of their programs."""
        allowed = principal.program_scope(org_id)
        if allowed is None:
            return
        if not allowed or not self.programs.person_in_programs(org_id, user_id, allowed):
            raise AppError(ErrorCode.NOT_FOUND, "person not found")

    def programs_of_org(self, org_id: str, program_ids: list[str]) -> None:
        """Program ids given in a body all belong to the organization (else 400)."""
        if not program_ids:
            return
        missing = self.programs.missing_programs(org_id, program_ids)
        if missing:
            raise AppError(ErrorCode.INVALID_INPUT, "unknown programs", {"program_ids": [f"unknown: {missing}"]})
