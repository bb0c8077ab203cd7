"""The bad-input corpus, generated from the OpenAPI document: for every
operation, every string field of the JSON body, every query string and every
path parameter gets a NUL byte, a lone surrogate, CR/LF with a header line, and
a 100 kB string; every id parameter a non-UUID; every integer field 1.5 and
"5". Each request starts from a valid request with real ids and changes one
value, so the answer is about that value. Every answer is a 4xx with a stable
error code, never a 5xx."""
import json
from datetime import date
from urllib.parse import quote

import pytest
import requests

from tests.e2e.world import build_world

BAD_STRINGS = {
    "nul": "a\x00b",
    "lone surrogate": "a\ud800b",
    "CR/LF": "Line\r\nBcc: victim@example.com",
    "100 kB": "x" * 100_000,
}
# A lone surrogate cannot be UTF-8 encoded; in a URL it travels as its raw (invalid) bytes.
BAD_PATH_SEGMENTS = {"nul": "%00", "lone surrogate": "%ED%A0%80", "CR/LF": "a%0D%0Ab", "100 kB": "x" * 100_000,
                     "non-UUID": "not-a-uuid"}
BAD_INTEGERS = {"float": 1.5, "string": "5"}
# Pages that answer HTML to people (documented as such): their refusals are HTML.
HTML_PAGES = {"/v1/unsubscribe/{token}"}


@pytest.fixture(scope="module")
def world(suite, api):
    return build_world(suite, api)


@pytest.fixture(scope="module")
def document(suite):
    return requests.get(f"{suite.base_url}/v1/openapi.json", timeout=10).json()


def resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    if "allOf" in schema:
        merged: dict = {"type": "object", "properties": {}, "required": []}
        for part in schema["allOf"]:
            part = resolve(document, part)
            merged["properties"].update(part.get("properties", {}))
            merged["required"] += part.get("required", [])
        return merged
    return schema


def valid_value(document: dict, name: str, schema: dict, ids: dict):
    """A plausible valid value, so that a request fails only for the value under test."""
    schema = resolve(document, schema)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {key: valid_value(document, key, sub, ids) for key, sub in schema.get("properties", {}).items()
                if not resolve(document, sub).get("readOnly")}
    if kind == "array":
        item = resolve(document, schema.get("items", {}))
        if item.get("type") == "string" and name.endswith("_ids") and name[:-1] in ids:
            return [ids[name[:-1]]]
        return []
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1
    if kind == "boolean":
        return False
    if schema.get("format") == "email" or name.endswith("email"):
        return "valid.person@example.com"
    if schema.get("format") == "date" or name.endswith("_on"):
        return str(date.today())
    if name in ids:
        return ids[name]
    return "Valid text"


def string_fields(document: dict, schema: dict, prefix=()):
    """(path, schema) of every string field of a body, nested objects included."""
    schema = resolve(document, schema)
    for key, sub in schema.get("properties", {}).items():
        sub = resolve(document, sub)
        if sub.get("readOnly"):
            continue
        if sub.get("type") == "object":
            yield from string_fields(document, sub, prefix + (key,))
        elif sub.get("type") in ("string", "integer") and "enum" not in sub:
            yield prefix + (key,), sub


def replaced(body: dict, path: tuple, value) -> dict:
    body = json.loads(json.dumps(body))
    target = body
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    return body


def operations(document: dict):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


def request_parts(document, path, operation, ids):
    path_values = {p["name"]: ids.get(p["name"], "00000000-0000-0000-0000-000000000000")
                   for p in operation.get("parameters", []) if p["in"] == "path"}
    query = {p["name"]: resolve(document, p.get("schema", {})) for p in operation.get("parameters", [])
             if p["in"] == "query"}
    content = operation.get("requestBody", {}).get("content", {})
    body_schema = content.get("application/json", {}).get("schema")
    body = valid_value(document, "body", body_schema, ids) if body_schema else None
    return path_values, query, body_schema, body


def encoded(value) -> str:
    """Percent-encoded; a lone surrogate (not UTF-8 encodable) as its raw bytes."""
    return quote(str(value).encode("utf-8", "surrogatepass"), safe="")


def url_of(base_url: str, path: str, path_values: dict, query: dict) -> str:
    for name, value in path_values.items():
        path = path.replace("{" + name + "}", value if "%" in value else encoded(value))
    if query:
        path += "?" + "&".join(f"{encoded(name)}={encoded(value)}" for name, value in query.items())
    return base_url + path


def accepts(schema: dict, label: str) -> bool:
    """Values a field may take by design: line breaks in multi-line text, any
    characters but NUL and lone surrogates in an opaque token or password."""
    return label == "CR/LF" and schema.get("x-text") in ("multi-line", "opaque")


def cases(document: dict, ids: dict):
    """(label, method, path template, path values, query, body) — one bad value each."""
    for method, path, operation in operations(document):
        path_values, query, body_schema, body = request_parts(document, path, operation, ids)
        uuid_params = {p["name"] for p in operation.get("parameters", [])
                       if p.get("in") == "path" and p.get("schema", {}).get("format") == "uuid"}
        for name in path_values:
            for label, bad in BAD_PATH_SEGMENTS.items():
                # catalog ids (`course_id` in a gradebook path) are not UUIDs: the document says which are
                if label == "non-UUID" and name not in uuid_params:
                    continue
                yield (f"path {name}: {label}", method, path, {**path_values, name: bad}, {}, body)
        for name, schema in query.items():
            # In a query string every value is text: "5" is the number 5.
            bad_values = {"float": 1.5} if schema.get("type") == "integer" else BAD_STRINGS
            if schema.get("type") not in ("integer", "string") or "enum" in schema:
                continue
            for label, bad in bad_values.items():
                yield (f"query {name}: {label}", method, path, path_values, {name: bad}, body)
        if body_schema is None:
            continue
        for field, schema in string_fields(document, body_schema):
            bad_values = BAD_INTEGERS if schema.get("type") == "integer" else BAD_STRINGS
            for label, bad in bad_values.items():
                if not accepts(schema, label):
                    yield (f"body {'.'.join(field)}: {label}", method, path, path_values, {},
                           replaced(body, field, bad))


SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def stable_refusal(method: str, path: str, response: requests.Response) -> str | None:
    """None when the answer is a 4xx with an error code (for /scim/: a SCIM error with its status); else what is
    wrong."""
    if not 400 <= response.status_code < 500:
        return f"status {response.status_code}"
    if path in HTML_PAGES and response.headers.get("Content-Type", "").startswith("text/html"):
        return None
    if path.startswith("/scim/"):
        try:
            body = response.json()
            ok = body["schemas"] == [SCIM_ERROR] and body["status"] == str(response.status_code)
        except (ValueError, KeyError, TypeError):
            ok = False
        scim_type = response.headers.get("Content-Type", "").startswith("application/scim+json")
        return None if ok and scim_type else f"status {response.status_code}, not a SCIM error: {response.text[:120]!r}"
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return f"status {response.status_code} without an error code: {response.text[:120]!r}"
    return None if isinstance(code, str) and code.isupper() else f"unstable code {code!r}"


def test_every_bad_value_gets_a_4xx_with_a_code(suite, world, document):
    admin = world["admin"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {admin.token}"
    problems, sent = [], 0
    for label, method, path, path_values, query, body in cases(document, world["ids"]):
        if method == "DELETE" and "non-UUID" not in label and path == "/v1/programs/{program_id}":
            continue  # removing the fixture program would turn every later case into a 404
        url = url_of(suite.base_url, path, path_values, query)
        kwargs = {"timeout": 30}
        if body is not None:
            kwargs["data"] = json.dumps(body)  # escapes a lone surrogate as \ud800, as any client would
            kwargs["headers"] = {"Content-Type": "application/json"}
        if path.startswith("/scim/"):  # the identity provider's token: the values reach SCIM's own checks
            kwargs["headers"] = {**kwargs.get("headers", {}), "Authorization": f"Bearer {world['scim_token']}"}
        response = session.request(method, url, **kwargs)
        sent += 1
        problem = stable_refusal(method, path, response)
        if problem:
            problems.append(f"{method} {path} {label}: {problem}")
    print(f"bad-input corpus: {sent} requests, {len(problems)} problems")
    assert sent > 500
    assert not problems, "\n".join(problems[:80])
