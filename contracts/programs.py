"""programs: events it publishes and the payloads of its RPC methods."""
from enum import StrEnum

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from contracts.common import PageQuerySchema, multi_line_field, name_field, text_field, values
from contracts.fields import CATALOG_ID, CatalogId, Id, StrictInteger
from contracts.registry import Event


class MemberState(StrEnum):
    INVITED = "INVITED"
    MEMBER = "MEMBER"
    DELETED_MEMBER = "DELETED_MEMBER"


class ItemKind(StrEnum):
    COURSE = "COURSE"
    SPECIALIZATION = "SPECIALIZATION"


class RemovalReason(StrEnum):
    ADMIN_REMOVED = "ADMIN_REMOVED"
    PROGRAM_REMOVED = "PROGRAM_REMOVED"
    DEPROVISIONED = "DEPROVISIONED"  # the organization's identity provider deprovisioned the person (SCIM)


MEMBER_STATES = values(MemberState)
ITEM_KINDS = values(ItemKind)
REMOVAL_REASONS = values(RemovalReason)
MAX_LICENSES = 10_000_000


# ---- catalog ------------------------------------------------------------


class CatalogItemSchema(Schema):
    """What a course and a specialization of the catalog both carry."""
    id = fields.String(required=True, validate=CATALOG_ID)
    slug = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9\-]{0,199}$"))
    name = name_field(required=True)
    partner = name_field(required=True, metadata={"description": "the university or company teaching it"})
    domain = text_field(100, allow_none=True, load_default=None)
    description = text_field(5000, allow_none=True, load_default=None)


class CourseSchema(CatalogItemSchema):
    item_count = fields.Integer(load_default=0, validate=validate.Range(0, 10_000))
    lesson_count = fields.Integer(load_default=0, validate=validate.Range(0, 10_000))
    graded_item_count = fields.Integer(load_default=0, validate=validate.Range(0, 10_000))
    estimated_hours = fields.Float(load_default=0, validate=validate.Range(0, 10_000))
    class_start_time = fields.AwareDateTime(allow_none=True, load_default=None)


class SpecializationSchema(CatalogItemSchema):
    course_ids = fields.List(fields.String(validate=CATALOG_ID), required=True,
                             validate=validate.Length(min=1, max=50), metadata={"description": "in order"})


# ---- contracts ------------------------------------------------------------


class ContractFieldsSchema(Schema):
    name = name_field()
    license_count = StrictInteger(validate=validate.Range(0, MAX_LICENSES))
    starts_on = fields.Date()
    ends_on = fields.Date()

    @validates_schema
    def dates_in_order(self, data, **kwargs):
        if data.get("starts_on") and data.get("ends_on") and data["ends_on"] < data["starts_on"]:
            raise ValidationError("must not be before starts_on", "ends_on")


class NewContractSchema(ContractFieldsSchema):
    name = name_field(required=True)
    license_count = StrictInteger(required=True, validate=validate.Range(0, MAX_LICENSES))
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)


class ContractSchema(Schema):
    id = fields.String(required=True)
    org_id = fields.String(required=True)
    name = fields.String(required=True)
    license_count = fields.Integer(required=True)
    licenses_used = fields.Integer(required=True)
    licenses_free = fields.Integer(required=True)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    active = fields.Boolean(metadata={"description": "today is within the contract's dates"})
    created_at = fields.AwareDateTime()


# ---- programs -------------------------------------------------------------


class ProgramFieldsSchema(Schema):
    name = name_field()
    tagline = text_field(300, allow_none=True)
    banner_url = fields.Url(allow_none=True, validate=validate.Length(max=2000))
    enrollment_limit = StrictInteger(allow_none=True, validate=validate.Range(1, 1000))
    contract_ids = fields.List(Id(), validate=validate.Length(1, 100))


class NewProgramSchema(ProgramFieldsSchema):
    name = name_field(required=True)
    contract_ids = fields.List(Id(), required=True, validate=validate.Length(1, 100))


class ProgramRefSchema(Schema):
    """What locate_program / find_program_by_slug answer."""

    id = fields.String(required=True)
    org_id = fields.String(required=True)
    name = fields.String(required=True)
    slug = fields.String(required=True)
    join_url = fields.String(required=True)


class ProgramSchema(ProgramRefSchema):
    tagline = fields.String(allow_none=True)
    banner_url = fields.String(allow_none=True)
    enrollment_limit = fields.Integer(allow_none=True)
    contract_ids = fields.List(fields.String())
    member_count = fields.Integer(metadata={"description": "current members (only on single reads)"})
    created_at = fields.AwareDateTime()


# ---- curriculum -----------------------------------------------------------


class CollectionItemSchema(Schema):
    id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(ITEM_KINDS))
    course_id = fields.String(allow_none=True)
    specialization_id = fields.String(allow_none=True)
    name = fields.String()
    slug = fields.String()
    partner = fields.String()
    position = fields.Integer()


class CollectionSchema(Schema):
    id = fields.String(required=True)
    program_id = fields.String(required=True)
    name = fields.String(required=True)
    description = fields.String(allow_none=True)
    position = fields.Integer()
    items = fields.List(fields.Nested(CollectionItemSchema))


class NewCollectionSchema(Schema):
    name = name_field(required=True)
    description = multi_line_field(2000, allow_none=True, load_default=None)


class CollectionFieldsSchema(Schema):
    name = name_field()
    description = multi_line_field(2000, allow_none=True)
    position = StrictInteger(validate=validate.Range(1, 10_000), metadata={"description": "1-based order"})
    item_ids = fields.List(Id(), validate=validate.Length(max=1000),
                           metadata={"description": "every item id of the collection, in the new order"})


# ---- memberships and enrollments ------------------------------------------


class MemberQuerySchema(PageQuerySchema):
    q = text_field(200, load_default=None, allow_none=True)
    state = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(MEMBER_STATES))


class EnrollmentInputSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(ITEM_KINDS))
    item_id = CatalogId(required=True)
    collection_id = Id(load_default=None, allow_none=True, not_found="collection")


class MemberSchema(Schema):
    membership_id = fields.String(required=True)
    program_id = fields.String(required=True)
    user_id = fields.String(required=True)
    email = fields.String(allow_none=True)
    full_name = fields.String(allow_none=True)
    state = fields.String(required=True, validate=validate.OneOf(MEMBER_STATES))
    contract_id = fields.String(allow_none=True)
    invitation_id = fields.String(allow_none=True)
    invited_at = fields.AwareDateTime(allow_none=True)
    joined_at = fields.AwareDateTime(allow_none=True)
    removed_at = fields.AwareDateTime(allow_none=True)


class MyProgramSchema(ProgramRefSchema):
    tagline = fields.String(allow_none=True)
    state = fields.String(validate=validate.OneOf(MEMBER_STATES))
    joined_at = fields.AwareDateTime(allow_none=True)
    enrollment_limit = fields.Integer(allow_none=True)
    enrollment_count = fields.Integer()


class EnrollmentSchema(Schema):
    id = fields.String(required=True)
    program_id = fields.String(required=True)
    user_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(ITEM_KINDS))
    course_id = fields.String(allow_none=True)
    specialization_id = fields.String(allow_none=True)
    item_name = fields.String()
    item_slug = fields.String()
    collection_id = fields.String(allow_none=True, metadata={"description": "Enrollment Source"})
    enrolled_at = fields.AwareDateTime()
    downgraded_at = fields.AwareDateTime(allow_none=True, metadata={"description": "access downgraded to audit"})
    created = fields.Boolean(metadata={"description": "false when the enrollment already existed"})


# ---- events ---------------------------------------------------------------


class ProgramCreated(Schema):
    program_id = fields.String(required=True)
    org_id = fields.String(required=True)
    name = fields.String(required=True)
    slug = fields.String(required=True)
    tagline = fields.String(allow_none=True)
    join_url = fields.String(required=True)
    contract_ids = fields.List(fields.String(), required=True)
    enrollment_limit = fields.Integer(allow_none=True)


PROGRAM_CREATED = Event("programs.program.created.v1", ProgramCreated)


class ProgramUpdated(ProgramCreated):
    changed = fields.List(fields.String(), required=True)
    previous = fields.Dict(allow_none=True, load_default=None,
                           metadata={"description": "the changed fields' values before the change (audit log)"})


PROGRAM_UPDATED = Event("programs.program.updated.v1", ProgramUpdated)


class ProgramRemoved(Schema):
    program_id = fields.String(required=True)
    org_id = fields.String(required=True)
    name = fields.String(required=True)
    slug = fields.String(required=True)
    removed_at = fields.AwareDateTime(required=True)


PROGRAM_REMOVED = Event("programs.program.removed.v1", ProgramRemoved)


class ContractEvent(Schema):
    contract_id = fields.String(required=True)
    org_id = fields.String(required=True)
    name = fields.String(required=True)
    license_count = fields.Integer(required=True)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    previous = fields.Dict(allow_none=True, load_default=None,
                           metadata={"description": "updated: the fields' values before the change (audit log)"})


CONTRACT_CREATED = Event("programs.contract.created.v1", ContractEvent, public=True)
CONTRACT_UPDATED = Event("programs.contract.updated.v1", ContractEvent, public=True)


class MemberEvent(Schema):
    """Who the member is, in which program: what joined and removed share."""
    membership_id = fields.String(required=True)
    org_id = fields.String(required=True)
    program_id = fields.String(required=True)
    program_name = fields.String(required=True)
    user_id = fields.String(required=True)
    email = fields.String(allow_none=True)
    full_name = fields.String(allow_none=True)


class MemberJoined(MemberEvent):
    contract_id = fields.String(required=True)
    invitation_id = fields.String(allow_none=True)
    joined_at = fields.AwareDateTime(required=True)


MEMBER_JOINED = Event("programs.member.joined.v1", MemberJoined)


class MemberRemoved(MemberEvent):
    contract_id = fields.String(allow_none=True)
    reason = fields.String(required=True, validate=validate.OneOf(REMOVAL_REASONS))
    removed_at = fields.AwareDateTime(required=True)
    notify = fields.Boolean(load_default=True, metadata={
        "description": "false: no program exit email (a deprovisioned person of an organization that says so)"})


MEMBER_REMOVED = Event("programs.member.removed.v1", MemberRemoved)


class MemberJoinRefused(Schema):
    """A join programs was asked for by an event and refused (no license left, contract not active, program
    removed, ...): nobody is waiting for an answer, so the refusal is a fact of its own, which the audit log
    records (`member.join_refused`). Today only SCIM's group joins (docs/scim.md, "When a join is refused")."""
    org_id = fields.String(required=True)
    program_id = fields.String(required=True)
    user_id = fields.String(required=True)
    email = fields.String(allow_none=True)
    full_name = fields.String(allow_none=True)
    contract_id = fields.String(allow_none=True)
    code = fields.String(required=True, metadata={"description": "the refusal's error code (NO_LICENSES_LEFT, ...)"})
    message = fields.String(allow_none=True)
    via = fields.String(required=True, metadata={"description": "what asked for the join: SCIM"})
    version = fields.Integer(allow_none=True, metadata={"description": "the SCIM entitlement version applied"})


MEMBER_JOIN_REFUSED = Event("programs.member.join_refused.v1", MemberJoinRefused)


class EnrollmentEvent(Schema):
    """Which enrollment, of whom, of what: what created and downgraded share."""
    enrollment_id = fields.String(required=True)
    org_id = fields.String(required=True)
    program_id = fields.String(required=True)
    user_id = fields.String(required=True)
    course_id = fields.String(allow_none=True)
    specialization_id = fields.String(allow_none=True)


class EnrollmentCreated(EnrollmentEvent):
    email = fields.String(allow_none=True)
    full_name = fields.String(allow_none=True)
    kind = fields.String(required=True, validate=validate.OneOf(ITEM_KINDS))
    item_name = fields.String(required=True)
    item_slug = fields.String(required=True)
    collection_id = fields.String(allow_none=True)
    enrolled_at = fields.AwareDateTime(required=True)


ENROLLMENT_CREATED = Event("programs.enrollment.created.v1", EnrollmentCreated)


class EnrollmentDowngraded(EnrollmentEvent):
    downgraded_at = fields.AwareDateTime(required=True)


ENROLLMENT_DOWNGRADED = Event("programs.enrollment.downgraded.v1", EnrollmentDowngraded, public=True)


class CurriculumChanged(Schema):
    program_id = fields.String(required=True)
    org_id = fields.String(required=True)
    course_ids = fields.List(fields.String(), required=True)
    specialization_ids = fields.List(fields.String(), required=True)


CURRICULUM_CHANGED = Event("programs.curriculum.changed.v1", CurriculumChanged, public=True)


class CollectionChange(StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"
    ITEMS_ADDED = "ITEMS_ADDED"
    ITEM_REMOVED = "ITEM_REMOVED"


class CollectionChanged(Schema):
    """An admin's change of one collection (the audit log's; the resulting
    curriculum is programs.curriculum.changed.v1's)."""
    collection_id = fields.String(required=True)
    org_id = fields.String(required=True)
    program_id = fields.String(required=True)
    name = fields.String(required=True)
    change = fields.String(required=True, validate=validate.OneOf(values(CollectionChange)))
    changes = fields.Dict(allow_none=True, metadata={"description": "UPDATED: {field: {before, after}}"})
    course_ids = fields.List(fields.String(), load_default=list, metadata={"description": "added or removed"})
    specialization_ids = fields.List(fields.String(), load_default=list)


COLLECTION_CHANGED = Event("programs.collection.changed.v1", CollectionChanged)
