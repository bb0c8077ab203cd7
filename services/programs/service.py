"""programs' nameko entrypoints: load input, call one command, query or
handler, dump output.

Every organization-level RPC takes the org_id first and the commands and
queries filter by it; learner RPCs are scoped by the signed-in user's id."""
import logging

from contracts.errors import invalid
from contracts.identity import PROFILE_UPDATED, SCIM_ENTITLEMENTS_CHANGED
from contracts.invitations import INVITATION_CREATED, INVITATION_EXPIRED, INVITATION_REVOKED, INVITATIONS_CREATED
from contracts.programs import (
    CollectionFieldsSchema,
    CollectionSchema,
    ContractFieldsSchema,
    ContractSchema,
    CourseSchema,
    EnrollmentInputSchema,
    EnrollmentSchema,
    MemberQuerySchema,
    MemberSchema,
    MyProgramSchema,
    NewCollectionSchema,
    NewContractSchema,
    NewProgramSchema,
    ProgramFieldsSchema,
    ProgramRefSchema,
    ProgramSchema,
    SpecializationSchema,
)
from servicekit.entrypoints import load_input
from servicekit.events import handled_by
from servicekit.models import parse_uuid
from servicekit.rpc import ServiceRpc
from servicekit.service import ServiceBase, ServiceSettings
from services.programs import handlers, queries
from services.programs.boundary import rpc
from services.programs.commands import collections, contracts, enrollments, memberships, programs
from services.programs.settings import ProgramsSettings

log = logging.getLogger(__name__)
IDENTITY_TIMEOUT_SECONDS = 5.0  # a join asks identity for a name at most this long



def page(item_schema, result: dict) -> dict:
    return {"items": item_schema(many=True).dump(result["items"]), "next_cursor": result["next_cursor"]}


class ProgramsService(ServiceBase):
    name = "programs"
    identity = ServiceRpc("identity", timeout=IDENTITY_TIMEOUT_SECONDS)
    settings = ServiceSettings(ProgramsSettings)

    # ---- catalog
    @rpc
    def search_courses(self, q=None, limit=50, cursor=None):
        return page(CourseSchema, queries.search_courses(self.db, q, limit, cursor))

    @rpc
    def search_specializations(self, q=None, limit=50, cursor=None):
        return page(SpecializationSchema, queries.search_specializations(self.db, q, limit, cursor))

    @rpc
    def get_courses(self, course_ids):
        return CourseSchema(many=True).dump(queries.courses_view(self.db, course_ids))

    @rpc(read_only=True)
    def find_courses(self, refs):
        """The courses whose id or slug is one of `refs` (reporting resolves xAPI course IRIs with it)."""
        if not isinstance(refs, list | tuple) or len(refs) > 1000 or \
                not all(isinstance(r, str) and 0 < len(r) <= 255 for r in refs):
            raise invalid({"refs": ["a list of at most 1000 course ids or slugs"]})
        return CourseSchema(many=True).dump(queries.courses_by_ref(self.db, refs))

    @rpc
    def get_specializations(self, specialization_ids):
        return SpecializationSchema(many=True).dump(queries.specializations_view(self.db, specialization_ids))

    # ---- contracts
    @rpc
    def create_contract(self, org_id, data):
        return ContractSchema().dump(contracts.create_contract(self.db, org_id, load_input(NewContractSchema(), data)))

    @rpc
    def list_contracts(self, org_id, limit=50, cursor=None):
        return page(ContractSchema, queries.list_contracts(self.db, org_id, limit, cursor))

    @rpc
    def get_contract(self, org_id, contract_id):
        return ContractSchema().dump(queries.contract(self.db, org_id, contract_id))

    @rpc
    def locate_contract(self, contract_id):
        return queries.locate_contract(self.db, contract_id)

    @rpc
    def update_contract(self, org_id, contract_id, changes):
        return ContractSchema().dump(contracts.update_contract(self.db, org_id, contract_id,
                                                               load_input(ContractFieldsSchema(), changes)))

    # ---- programs
    @rpc
    def create_program(self, org_id, data):
        return ProgramSchema().dump(programs.create_program(self.db, org_id, load_input(NewProgramSchema(), data),
                                                            self.settings.public_url))

    @rpc
    def list_programs(self, org_id, scope=None, limit=50, cursor=None):
        return page(ProgramSchema, queries.list_programs(self.db, org_id, scope, limit, cursor,
                                                         self.settings.public_url))

    @rpc
    def get_program(self, org_id, program_id):
        return ProgramSchema().dump(queries.program(self.db, org_id, program_id, self.settings.public_url))

    @rpc
    def program_with_contract(self, org_id, program_id, contract_id):
        """The program, refused (INVALID_INPUT) unless the contract is one of its contracts."""
        program = queries.program_with_contract(self.db, org_id, program_id, contract_id)
        return ProgramSchema().dump(queries.program_view(self.db, program, self.settings.public_url,
                                                         with_counts=True))

    @rpc
    def update_program(self, org_id, program_id, changes):
        return ProgramSchema().dump(programs.update_program(self.db, org_id, program_id,
                                                            load_input(ProgramFieldsSchema(), changes),
                                                            self.settings.public_url))

    @rpc
    def remove_program(self, org_id, program_id):
        return programs.remove_program(self.db, org_id, program_id)

    @rpc
    def locate_program(self, program_id):
        return ProgramRefSchema().dump(queries.locate_program(self.db, program_id, self.settings.public_url))

    @rpc
    def find_program_by_slug(self, slug):
        return ProgramRefSchema().dump(queries.find_program_by_slug(self.db, slug, self.settings.public_url))

    @rpc
    def missing_programs(self, org_id, program_ids):
        return queries.missing_programs(self.db, org_id, program_ids)

    # ---- curriculum
    @rpc
    def locate_collection(self, collection_id):
        return queries.locate_collection(self.db, collection_id)

    @rpc(read_only=True)
    def collection_names(self, collection_ids):
        """{id, org_id, program_id, name} of the collections that exist among the ids (reporting's backfill)."""
        if not isinstance(collection_ids, list | tuple) or len(collection_ids) > 1000 or \
                not all(parse_uuid(c) for c in collection_ids):
            raise invalid({"collection_ids": ["a list of at most 1000 collection ids"]})
        return queries.collection_names(self.db, [parse_uuid(c) for c in collection_ids])

    @rpc
    def list_collections(self, org_id, program_id):
        return CollectionSchema(many=True).dump(queries.list_collections(self.db, org_id, program_id))

    @rpc
    def create_collection(self, org_id, program_id, data):
        return CollectionSchema().dump(collections.create_collection(self.db, org_id, program_id,
                                                                     load_input(NewCollectionSchema(), data)))

    @rpc
    def update_collection(self, org_id, collection_id, changes):
        return CollectionSchema().dump(collections.update_collection(self.db, org_id, collection_id,
                                                                     load_input(CollectionFieldsSchema(), changes)))

    @rpc
    def delete_collection(self, org_id, collection_id):
        collections.delete_collection(self.db, org_id, collection_id)

    @rpc
    def add_collection_items(self, org_id, collection_id, course_ids=(), specialization_ids=()):
        return CollectionSchema().dump(collections.add_items(self.db, org_id, collection_id,
                                                             [str(c) for c in course_ids],
                                                             [str(s) for s in specialization_ids]))

    @rpc
    def remove_collection_item(self, org_id, collection_id, item_id):
        collections.remove_item(self.db, org_id, collection_id, item_id)

    # ---- memberships
    @rpc
    def join_program(self, org_id, program_id, user_id, contract_id, invitation_id=None, email=None, full_name=None):
        """Takes a license in the same transaction; idempotent for one invitation_id."""
        person = {"email": email, "full_name": full_name} if email else None
        return MemberSchema().dump(memberships.join_program(
            self.db, org_id, program_id, user_id, contract_id, invitation_id, person,
            fetch_person=lambda: self._person_from_identity(org_id, user_id)))

    def _person_from_identity(self, org_id, user_id):
        """Name and email for the members list; a join never fails for want of
        them (identity's profile events fill them in later)."""
        try:
            return self.identity.get_person(org_id, user_id)
        except Exception as exc:  # late, absent or refusing: never a reason to refuse the join
            log.warning("no profile for %s in %s from identity: %s", user_id, org_id, exc)
            return None

    @rpc
    def remove_member(self, org_id, program_id, user_id):
        return MemberSchema().dump(memberships.remove_member(self.db, org_id, program_id, user_id))

    @rpc
    def list_members(self, org_id, program_id, query=None):
        params = load_input(MemberQuerySchema(), query or {})
        return page(MemberSchema, queries.list_members(self.db, org_id, program_id, params["state"], params["q"],
                                                       params["limit"], params["cursor"]))

    @rpc
    def membership_state(self, program_id, user_id):
        return queries.membership_state(self.db, program_id, user_id)

    @rpc
    def person_in_programs(self, org_id, user_id, program_ids):
        return queries.person_in_programs(self.db, org_id, user_id, program_ids)

    @rpc
    def person_in_org(self, org_id, user_id):
        return queries.person_in_org(self.db, org_id, user_id)

    # ---- enrollments and learners
    @rpc
    def enroll(self, org_id, program_id, user_id, data):
        data = load_input(EnrollmentInputSchema(), data)
        return EnrollmentSchema().dump(enrollments.enroll(self.db, org_id, program_id, user_id, data["kind"],
                                                          data["item_id"], data["collection_id"]))

    @rpc
    def my_programs(self, user_id, limit=50, cursor=None):
        return page(MyProgramSchema, queries.my_programs(self.db, user_id, limit, cursor, self.settings.public_url))

    @rpc
    def my_enrollments(self, user_id, limit=50, cursor=None):
        return page(EnrollmentSchema, queries.my_enrollments(self.db, user_id, limit, cursor))

    # ---- events from other services
    on_invitation_created = handled_by(INVITATION_CREATED, handlers.on_invitation_created, payload=True)
    on_invitations_created = handled_by(INVITATIONS_CREATED, handlers.on_invitations_created, payload=True)
    on_invitation_revoked = handled_by(INVITATION_REVOKED, handlers.on_invitation_withdrawn, payload=True)
    on_invitation_expired = handled_by(INVITATION_EXPIRED, handlers.on_invitation_withdrawn, payload=True)
    on_profile_updated = handled_by(PROFILE_UPDATED, handlers.on_profile_updated, payload=True)
    on_scim_entitlements_changed = handled_by(SCIM_ENTITLEMENTS_CHANGED, handlers.on_scim_entitlements_changed,
                                              payload=True)
