"""SCIM resources as JSON, without a database: reading what an identity
provider sends (attribute names are case-insensitive, unknown attributes are
ignored as RFC 7643 2.1 allows, the providers' quirks are accepted), applying
PATCH operations (RFC 7644 3.5.2) to a resource's JSON, and the mapping of the
User resource to the organization profile's columns (docs/scim.md)."""
import re
from copy import deepcopy

from marshmallow import Schema, ValidationError

from contracts.common import email_field, text_field
from contracts.errors import AppError, ErrorCode
from contracts.identity import ProfileFieldsSchema
from contracts.scim import CORE_GROUP, CORE_USER, ENTERPRISE_USER, MAX_OPERATIONS, ScimType
from services.identity.scim import filters

# Our own extension (Entra's custom-attribute URN form): what the core and enterprise schemas have no attribute for.
LEARNADMIN_USER = "urn:ietf:params:scim:schemas:extension:learnadmin:2.0:User"
KNOWN_SCHEMAS = (CORE_USER, ENTERPRISE_USER, LEARNADMIN_USER, CORE_GROUP)


def scim_error(scim_type: str, message: str, field: str = "_schema", code: str = ErrorCode.INVALID_INPUT) -> AppError:
    return AppError(code, message, {"scimType": str(scim_type), field: [message]})


# ---------------------------------------------------------------- reading values


def lookup(resource: dict, name: str):
    """resource[name], the name matched case-insensitively."""
    if not isinstance(resource, dict):
        return None
    for key, value in resource.items():
        if isinstance(key, str) and key.lower() == name.lower():
            return value
    return None


def key_of(resource: dict, name: str) -> str:
    """The key `name` already has in `resource` (case-insensitively), or `name`."""
    for key in resource:
        if key.lower() == name.lower():
            return key
    return name


def parse_bool(value, name: str = "active") -> bool:
    """A boolean, or Entra's "True"/"False" strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise scim_error(ScimType.INVALID_VALUE, f"{name} must be true or false", name)


def string(value, name: str) -> str | None:
    """A string attribute: None stays None, numbers are not strings."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise scim_error(ScimType.INVALID_VALUE, f"{name} must be a string", name)
    return value.strip() or None


def multi(resource: dict, name: str) -> list:
    value = lookup(resource, name)
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list):
        raise scim_error(ScimType.INVALID_VALUE, f"{name} must be a list", name)
    return value


def pick(elements: list, preferred_type: str = "work") -> dict | None:
    """The primary element, else the one of `preferred_type`, else the first."""
    elements = [e for e in elements if isinstance(e, dict)]
    for test in (lambda e: lookup(e, "primary") in (True, "true", "True"),
                 lambda e: str(lookup(e, "type") or "").lower() == preferred_type):
        for element in elements:
            if test(element):
                return element
    return elements[0] if elements else None


def extension(resource: dict, urn: str) -> dict:
    value = lookup(resource, urn)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise scim_error(ScimType.INVALID_VALUE, f"{urn} must be an object", "schemas")
    return value


class ScimUserFields(ProfileFieldsSchema):
    """Lengths and characters of what a User maps to: the profile's own rules, and the SCIM-side names."""
    user_name = text_field(254)
    email = email_field(allow_none=True)
    given_name = text_field(200, allow_none=True)
    family_name = text_field(200, allow_none=True)
    display_name = text_field(200, allow_none=True)
    full_name = text_field(200, allow_none=True)
    manager_id = text_field(200, allow_none=True)


USER_FIELDS = ScimUserFields()
PROFILE_COLUMNS = ("external_id", "manager_name", "manager_email", "job_title", "job_type", "business_unit",
                   "business_unit_2", "location_city", "location_country", "location_region")


def extract_user(resource) -> dict:
    """What a User resource says, as the columns it maps to (docs/scim.md,
    "Attribute mapping"). Absent attributes are None (PUT replaces)."""
    if not isinstance(resource, dict):
        raise scim_error(ScimType.INVALID_SYNTAX, "the body must be a JSON object")
    user_name = string(lookup(resource, "userName"), "userName")
    if not user_name:
        raise scim_error(ScimType.INVALID_VALUE, "userName is required", "userName")
    name = lookup(resource, "name")
    if name is not None and not isinstance(name, dict):
        raise scim_error(ScimType.INVALID_VALUE, "name must be an object", "name")
    name = name or {}
    email_element = pick(multi(resource, "emails"))
    email = string(lookup(email_element, "value"), "emails.value") if email_element else None
    if email is None and "@" in user_name:
        email = user_name
    address = pick(multi(resource, "addresses")) or {}
    enterprise = extension(resource, ENTERPRISE_USER)
    ours = extension(resource, LEARNADMIN_USER)
    manager = lookup(enterprise, "manager")
    if isinstance(manager, str):  # Entra sends the manager's id as a bare string
        manager = {"value": manager}
    if manager is not None and not isinstance(manager, dict):
        raise scim_error(ScimType.INVALID_VALUE, "manager must be an object", "manager")
    manager = manager or {}
    given, family = string(lookup(name, "givenName"), "name.givenName"), string(lookup(name, "familyName"),
                                                                                  "name.familyName")
    display = string(lookup(resource, "displayName"), "displayName")
    formatted = string(lookup(name, "formatted"), "name.formatted")
    active = lookup(resource, "active")
    fields = {
        "user_name": user_name,
        "email": email,
        "emails_given": email_element is not None,
        "active": True if active is None else parse_bool(active),
        "given_name": given,
        "family_name": family,
        "display_name": display,
        "full_name": formatted or display or " ".join(p for p in (given, family) if p) or None,
        "external_id": string(lookup(resource, "externalId"), "externalId"),
        "job_title": string(lookup(resource, "title"), "title"),
        "job_type": string(lookup(resource, "userType"), "userType"),
        "location_city": string(lookup(address, "locality"), "addresses.locality"),
        "location_region": string(lookup(address, "region"), "addresses.region"),
        "location_country": string(lookup(address, "country"), "addresses.country"),
        "business_unit": string(lookup(enterprise, "department"), "department"),
        "business_unit_2": string(lookup(enterprise, "division"), "division"),
        "manager_id": string(lookup(manager, "value"), "manager.value"),
        "manager_name": string(lookup(manager, "displayName"), "manager.displayName"),
        "manager_email": string(lookup(ours, "managerEmail"), "managerEmail"),
    }
    try:
        checked = USER_FIELDS.load({k: v for k, v in fields.items() if k not in ("active", "emails_given")})
    except ValidationError as exc:
        raise AppError(ErrorCode.INVALID_INPUT, "invalid attribute value",
                       {"scimType": ScimType.INVALID_VALUE, **exc.messages}) from None
    return {**fields, **checked}


def extract_group(resource) -> dict:
    if not isinstance(resource, dict):
        raise scim_error(ScimType.INVALID_SYNTAX, "the body must be a JSON object")
    display = string(lookup(resource, "displayName"), "displayName")
    if not display:
        raise scim_error(ScimType.INVALID_VALUE, "displayName is required", "displayName")
    members = []
    for member in multi(resource, "members"):
        value = lookup(member, "value") if isinstance(member, dict) else None
        if not isinstance(value, str) or not value:
            raise scim_error(ScimType.INVALID_VALUE, "each member needs a value (a user id)", "members")
        members.append(value.strip().lower())
    try:
        checked = Schema.from_dict({"display_name": text_field(200), "external_id": text_field(200, allow_none=True)})(
        ).load({"display_name": display, "external_id": string(lookup(resource, "externalId"), "externalId")})
    except ValidationError as exc:
        raise AppError(ErrorCode.INVALID_INPUT, "invalid attribute value",
                       {"scimType": ScimType.INVALID_VALUE, **exc.messages}) from None
    return {**checked, "members": list(dict.fromkeys(members))}


# ---------------------------------------------------------------- PATCH

PATH = re.compile(r"^(?P<attr>[A-Za-z][\w$-]*)(?:\[(?P<filter>.+)\])?(?:\.(?P<sub>[A-Za-z][\w$-]*))?$", re.S)


def split_path(path: str, schemas=KNOWN_SCHEMAS) -> tuple[str | None, str, str | None, str | None]:
    """`urn:...:User:manager`, `name.givenName`, `emails[type eq "work"].value` ->
    (extension URN or None, attribute, bracket filter or None, sub-attribute or None)."""
    if not isinstance(path, str) or not path.strip() or len(path) > 1000:
        raise scim_error(ScimType.INVALID_PATH, "the path is empty or too long", "path")
    path = path.strip()
    urn = None
    for schema in schemas:
        if path.lower().startswith(schema.lower() + ":"):
            urn, path = schema, path[len(schema) + 1:]
            break
    else:
        if path.lower().startswith("urn:"):
            raise scim_error(ScimType.INVALID_PATH, "the path names a schema this service does not have", "path")
    if urn in (CORE_USER, CORE_GROUP):
        urn = None
    match = PATH.match(path)
    if match is None:
        raise scim_error(ScimType.INVALID_PATH, f"the path {path[:100]!r} is not a SCIM attribute path", "path")
    return urn, match["attr"], match["filter"], match["sub"]


def _container(resource: dict, urn: str | None, create: bool) -> dict | None:
    if urn is None:
        return resource
    key = key_of(resource, urn)
    if key not in resource or not isinstance(resource[key], dict):
        if not create:
            return None
        resource[key] = {}
        schemas = resource.setdefault("schemas", [])
        if isinstance(schemas, list) and urn not in schemas:
            schemas.append(urn)
    return resource[key]


def _merge(target: dict, name: str, value, op: str) -> None:
    """add/replace of one attribute (RFC 7644 3.5.2.1 and 3.5.2.3)."""
    key = key_of(target, name)
    current = target.get(key)
    if op == "add" and isinstance(current, list):
        additions = value if isinstance(value, list) else [value]
        target[key] = current + [v for v in additions if v not in current]
    elif isinstance(current, dict) and isinstance(value, dict):
        for sub, sub_value in value.items():
            target[key_of(current, sub)] = sub_value
    else:
        target[key] = deepcopy(value)


def _without_path(resource: dict, op: str, value) -> None:
    if not isinstance(value, dict):
        raise scim_error(ScimType.INVALID_VALUE, "an operation without a path needs an object value", "value")
    for name, item in value.items():
        if not isinstance(name, str):
            continue
        if ":" in name:  # Entra: {"urn:...:enterprise:2.0:User:department": "x"} or a whole extension object
            is_schema = any(name.lower() == s.lower() for s in KNOWN_SCHEMAS)
            if is_schema and isinstance(item, dict):
                container = _container(resource, name if name not in (CORE_USER, CORE_GROUP) else None, True)
                for sub, sub_value in item.items():
                    _merge(container, sub, sub_value, op)
                continue
            try:
                urn, attr, bracket, sub = split_path(name)
            except AppError:
                continue  # an attribute of a schema we do not have: ignored (RFC 7643 2.1)
            _with_path(resource, op, urn, attr, bracket, sub, item)
            continue
        _merge(resource, name, item, op)


def _with_path(resource: dict, op: str, urn, attr: str, bracket, sub, value) -> None:
    container = _container(resource, urn, op != "remove")
    if container is None:
        return
    key = key_of(container, attr)
    if bracket is None:
        if sub is None:
            if op == "remove":
                if value is not None and isinstance(container.get(key), list):
                    # Entra: remove members by value: {"path": "members", "value": [{"value": "id"}]}
                    gone = value if isinstance(value, list) else [value]
                    ids = {str(lookup(v, "value") if isinstance(v, dict) else v).lower() for v in gone}
                    container[key] = [e for e in container[key]
                                      if str(lookup(e, "value") if isinstance(e, dict) else e).lower() not in ids]
                else:
                    container.pop(key, None)
            else:
                _merge(container, attr, value, op)
            return
        parent = container.get(key)
        if op == "remove":
            if isinstance(parent, dict):
                parent.pop(key_of(parent, sub), None)
            return
        if not isinstance(parent, dict):
            parent = container[key] = {}
        _merge(parent, sub, value, op)
        return
    tree = filters.parse(bracket)
    elements = container.get(key)
    if elements is None:
        elements = []
    if not isinstance(elements, list):
        raise scim_error(ScimType.INVALID_PATH, f"{attr} is not multi-valued", "path")
    hits = [e for e in elements if filters.matches(tree, e)]
    if op == "remove":
        if sub is None:
            container[key] = [e for e in elements if e not in hits]
        else:
            for element in hits:
                if isinstance(element, dict):
                    element.pop(key_of(element, sub), None)
        return
    if not hits:
        # Entra replaces `emails[type eq "work"].value` on a user without a work email: add the element
        new = {k: v for k, v in filters.equalities(tree).items()}
        if not new:
            raise scim_error(ScimType.NO_TARGET, f"no element of {attr} matches the filter", "path")
        elements.append(new)
        container[key] = elements
        hits = [new]
    for element in hits:
        if not isinstance(element, dict):
            continue
        if sub is None:
            if not isinstance(value, dict):
                raise scim_error(ScimType.INVALID_VALUE, "a value filter path without a sub-attribute takes "
                                                         "an object", "value")
            for name, item in value.items():
                element[key_of(element, name)] = item
        else:
            element[key_of(element, sub)] = value


def apply_patch(resource: dict, body) -> dict:
    """The resource after a PatchOp body's operations, in order (a copy)."""
    if not isinstance(body, dict):
        raise scim_error(ScimType.INVALID_SYNTAX, "the body must be a PatchOp object")
    operations = lookup(body, "Operations")
    if not isinstance(operations, list) or not operations:
        raise scim_error(ScimType.INVALID_SYNTAX, "Operations must be a non-empty list", "Operations")
    if len(operations) > MAX_OPERATIONS:
        raise scim_error(ScimType.TOO_MANY, f"at most {MAX_OPERATIONS} operations per request", "Operations")
    result = deepcopy(resource)
    for operation in operations:
        if not isinstance(operation, dict):
            raise scim_error(ScimType.INVALID_SYNTAX, "each operation must be an object", "Operations")
        op = lookup(operation, "op")
        if not isinstance(op, str) or op.lower() not in ("add", "replace", "remove"):
            raise scim_error(ScimType.INVALID_SYNTAX, "op must be add, replace or remove", "op")
        op = op.lower()  # Entra sends "Add", "Replace", "Remove"
        path, value = lookup(operation, "path"), lookup(operation, "value")
        if path is None:
            if op == "remove":
                raise scim_error(ScimType.NO_TARGET, "remove needs a path", "path")
            _without_path(result, op, value)
        else:
            if op != "remove" and value is None and "value" not in {k.lower() for k in operation}:
                raise scim_error(ScimType.INVALID_VALUE, f"{op} needs a value", "value")
            urn, attr, bracket, sub = split_path(path)
            _with_path(result, op, urn, attr, bracket, sub, value)
    return result
