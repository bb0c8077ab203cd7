"""Programs, contracts, curriculum, and the learner endpoints (docs/api.md).

Program-scoped paths first ask programs where the program lives
(`locate_program`, 404 if nowhere) and then check the caller may administer
it; the service filters by the organization again."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from contracts.common import PageQuerySchema, text_field
from contracts.errors import AppError, ErrorCode
from contracts.fields import CatalogId, Id
from contracts.programs import (
    CollectionFieldsSchema,
    CollectionSchema,
    ContractFieldsSchema,
    ContractSchema,
    CourseSchema,
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
from gateway.http import Reply, route
from gateway.routes import Routes, require_changes
from gateway.schemas import page_of


class SearchQuery(PageQuerySchema):
    q = text_field(200, load_default=None, allow_none=True)


class ConfirmQuery(Schema):
    confirm = fields.Boolean(load_default=False)


class ItemsBody(Schema):
    course_ids = fields.List(CatalogId(), load_default=list, validate=validate.Length(max=500))
    specialization_ids = fields.List(CatalogId(), load_default=list, validate=validate.Length(max=500))

    @validates_schema
    def at_least_one(self, data, **kwargs):
        if not data.get("course_ids") and not data.get("specialization_ids"):
            raise ValidationError("name at least one course or specialization")


class EnrollBody(Schema):
    program_id = Id(required=True, not_found="program")
    course_id = CatalogId()
    specialization_id = CatalogId()
    collection_id = Id(allow_none=True, not_found="collection")

    @validates_schema
    def one_item(self, data, **kwargs):
        if bool(data.get("course_id")) == bool(data.get("specialization_id")):
            raise ValidationError("give exactly one of course_id and specialization_id")


class Branding(Schema):
    name = fields.String()
    brand_color = fields.String(allow_none=True)
    logo_url = fields.String(allow_none=True)


class LearnerCurriculum(Schema):
    program = fields.Nested(ProgramRefSchema)
    collections = fields.List(fields.Nested(CollectionSchema))
    organization = fields.Nested(Branding)


class ProgramRemoved(Schema):
    program_id = fields.String()
    removed_members = fields.Integer()


def page_args(query: dict) -> dict:
    return {"limit": query["limit"], "cursor": query["cursor"]}


class ProgramsRoutes(Routes):
    # ---- catalog
    @route("GET", "/v1/catalog/courses", scope="programs:read",
           query=SearchQuery, response=page_of(CourseSchema), tags=("catalog",),
           summary="Search the course catalog by name, slug or partner")
    def catalog_courses(self, call):
        return self.programs.search_courses(call.query["q"], **page_args(call.query))

    @route("GET", "/v1/catalog/specializations", scope="programs:read",
           query=SearchQuery, response=page_of(SpecializationSchema),
           tags=("catalog",), summary="Search the specializations by name, slug or partner")
    def catalog_specializations(self, call):
        return self.programs.search_specializations(call.query["q"], **page_args(call.query))

    # ---- contracts (org admins)
    @route("GET", "/v1/orgs/{org_id}/contracts", scope="programs:read",
           query=PageQuerySchema, response=page_of(ContractSchema),
           tags=("contracts",), summary="The organization's contracts with licenses used and free")
    def list_contracts(self, call, org_id):
        call.principal.require_org_admin(org_id)
        return self.programs.list_contracts(org_id, **page_args(call.query))

    @route("POST", "/v1/orgs/{org_id}/contracts", body=NewContractSchema, response=ContractSchema, status=201,
           tags=("contracts",), summary="Create a contract (licenses over a date range)", errors=("DUPLICATE_NAME",))
    def create_contract(self, call, org_id):
        call.principal.require_org_admin(org_id)
        return self.programs.create_contract(org_id, NewContractSchema().dump(call.body))

    @route("GET", "/v1/contracts/{contract_id}", scope="programs:read", response=ContractSchema, tags=("contracts",),
           summary="A contract with licenses used and free")
    def get_contract(self, call, contract_id):
        contract = self.scope.contract(call.principal, contract_id)
        return self.programs.get_contract(contract["org_id"], contract_id)

    @route("PATCH", "/v1/contracts/{contract_id}", body=ContractFieldsSchema, response=ContractSchema,
           tags=("contracts",), summary="Change a contract (not below the licenses in use)",
           errors=("LICENSES_IN_USE", "DUPLICATE_NAME"))
    def update_contract(self, call, contract_id):
        contract = self.scope.contract(call.principal, contract_id)
        require_changes(call.body)
        return self.programs.update_contract(contract["org_id"], contract_id, ContractFieldsSchema().dump(call.body))

    # ---- programs
    @route("GET", "/v1/orgs/{org_id}/programs", scope="programs:read",
           query=PageQuerySchema, response=page_of(ProgramSchema),
           tags=("programs",), summary="Programs in the caller's scope")
    def list_programs(self, call, org_id):
        scope = call.principal.program_scope(org_id)
        return self.programs.list_programs(org_id, scope, **page_args(call.query))

    @route("POST", "/v1/orgs/{org_id}/programs", body=NewProgramSchema, response=ProgramSchema, status=201,
           tags=("programs",), summary="Create a program (org admins); answers its slug and join URL",
           errors=("DUPLICATE_NAME",))
    def create_program(self, call, org_id):
        call.principal.require_org_admin(org_id)
        return self.programs.create_program(org_id, NewProgramSchema().dump(call.body))

    @route("GET", "/v1/programs/{program_id}", scope="programs:read",
           response=ProgramSchema, tags=("programs",), summary="A program")
    def get_program(self, call, program_id):
        program = self.scope.program(call.principal, program_id)
        return self.programs.get_program(program["org_id"], program_id)

    @route("PATCH", "/v1/programs/{program_id}", body=ProgramFieldsSchema, response=ProgramSchema,
           tags=("programs",), summary="Change a program's settings", errors=("DUPLICATE_NAME",))
    def update_program(self, call, program_id):
        program = self.scope.program(call.principal, program_id)
        require_changes(call.body)
        if "contract_ids" in call.body:  # licenses are an organization-level matter
            call.principal.require_org_admin(program["org_id"])
        return self.programs.update_program(program["org_id"], program_id, ProgramFieldsSchema().dump(call.body))

    @route("DELETE", "/v1/programs/{program_id}", query=ConfirmQuery, response=ProgramRemoved, tags=("programs",),
           summary="Remove a program and all its members (irreversible; needs ?confirm=true)",
           errors=("CONFIRMATION_REQUIRED",))
    def remove_program(self, call, program_id):
        program = self.scope.program(call.principal, program_id)
        if not call.query["confirm"]:
            raise AppError(ErrorCode.CONFIRMATION_REQUIRED,
                           "removing a program removes every member and cannot be undone; send ?confirm=true")
        # Set-based, but it records an event per member: about 20 s per 100,000 members (bench_programs).
        return self.programs.with_long_timeout().remove_program(program["org_id"], program_id)

    # ---- members
    @route("GET", "/v1/programs/{program_id}/members", scope="programs:read",
           query=MemberQuerySchema, response=page_of(MemberSchema),
           tags=("members",), summary="Members and invitees (filter by state, search name or email)")
    def list_members(self, call, program_id):
        program = self.scope.program(call.principal, program_id)
        return self.programs.list_members(program["org_id"], program_id, dict(call.query))

    @route("DELETE", "/v1/programs/{program_id}/members/{user_id}", status=204, tags=("members",),
           summary="Remove a member: license freed, course access downgraded to audit")
    def remove_member(self, call, program_id, user_id):
        program = self.scope.program(call.principal, program_id)
        self.programs.remove_member(program["org_id"], program_id, user_id)
        return Reply(status=204)

    # ---- curriculum
    @route("GET", "/v1/programs/{program_id}/collections", scope="programs:read", response=CollectionSchema, many=True,
           tags=("curriculum",), summary="The program's curriculum: collections in order with their items")
    def list_collections(self, call, program_id):
        program = self.scope.program(call.principal, program_id)
        return self.programs.list_collections(program["org_id"], program_id)

    @route("POST", "/v1/programs/{program_id}/collections", body=NewCollectionSchema, response=CollectionSchema,
           status=201, tags=("curriculum",), summary="Add a collection at the end", errors=("DUPLICATE_NAME",))
    def create_collection(self, call, program_id):
        program = self.scope.program(call.principal, program_id)
        return self.programs.create_collection(program["org_id"], program_id, call.body)

    @route("PATCH", "/v1/collections/{collection_id}", body=CollectionFieldsSchema, response=CollectionSchema,
           tags=("curriculum",), summary="Rename, describe, move a collection or reorder its items")
    def update_collection(self, call, collection_id):
        collection = self.scope.collection(call.principal, collection_id)
        require_changes(call.body)
        return self.programs.update_collection(collection["org_id"], collection_id, call.body)

    @route("DELETE", "/v1/collections/{collection_id}", status=204, tags=("curriculum",),
           summary="Delete a collection")
    def delete_collection(self, call, collection_id):
        collection = self.scope.collection(call.principal, collection_id)
        self.programs.delete_collection(collection["org_id"], collection_id)
        return Reply(status=204)

    @route("POST", "/v1/collections/{collection_id}/items", body=ItemsBody, response=CollectionSchema,
           tags=("curriculum",), summary="Add courses and specializations (adding one twice is a no-op)")
    def add_items(self, call, collection_id):
        collection = self.scope.collection(call.principal, collection_id)
        return self.programs.add_collection_items(collection["org_id"], collection_id, call.body["course_ids"],
                                                  call.body["specialization_ids"])

    @route("DELETE", "/v1/collections/{collection_id}/items/{item_id}", status=204, tags=("curriculum",),
           summary="Remove an item from a collection")
    def remove_item(self, call, collection_id, item_id):
        collection = self.scope.collection(call.principal, collection_id)
        self.programs.remove_collection_item(collection["org_id"], collection_id, item_id)
        return Reply(status=204)

    # ---- learners
    @route("GET", "/v1/me/programs", query=PageQuerySchema, response=page_of(MyProgramSchema), tags=("me",),
           summary="The programs I joined or am invited to")
    def my_programs(self, call):
        return self.programs.my_programs(call.principal.user_id, **page_args(call.query))

    @route("GET", "/v1/me/programs/{program_id}/curriculum", response=LearnerCurriculum, tags=("me",),
           summary="A program I am a member of, with its curriculum (collections in order with their items) and "
                   "the organization's branding; 404 unless the caller is a member")
    def my_curriculum(self, call, program_id):
        if self.programs.membership_state(program_id, call.principal.user_id) != "MEMBER":
            raise AppError(ErrorCode.NOT_FOUND, "no such program among yours")
        program = self.programs.locate_program(program_id)
        org = self.identity.get_organization(program["org_id"])
        return {"program": program, "collections": self.programs.list_collections(program["org_id"], program_id),
                "organization": {key: org.get(key) for key in ("name", "brand_color", "logo_url")}}

    @route("GET", "/v1/me/enrollments", query=PageQuerySchema, response=page_of(EnrollmentSchema), tags=("me",),
           summary="My enrollments (downgraded ones show downgraded_at)")
    def my_enrollments(self, call):
        return self.programs.my_enrollments(call.principal.user_id, **page_args(call.query))

    @route("POST", "/v1/enrollments", body=EnrollBody, response=EnrollmentSchema, status=201, tags=("me",),
           summary="Enroll in a course or specialization of a program I am a member of (idempotent: 200 if "
                   "already enrolled)",
           errors=("NOT_A_MEMBER", "NOT_IN_CURRICULUM", "ENROLLMENT_LIMIT_REACHED"),
           responses={200: ("Already enrolled: the existing enrollment", "application/json", EnrollmentSchema)})
    def enroll(self, call):
        body = call.body
        program = self.programs.locate_program(body["program_id"])
        kind, item_id = ("COURSE", body["course_id"]) if body.get("course_id") else \
            ("SPECIALIZATION", body["specialization_id"])
        enrollment = self.programs.enroll(program["org_id"], program["id"], call.principal.user_id,
                                          {"kind": kind, "item_id": item_id,
                                           "collection_id": body.get("collection_id")})
        return Reply(enrollment, 201 if enrollment.get("created") else 200)
