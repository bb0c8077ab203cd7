"""The OpenAPI document covers every route the gateway serves."""
import re
from pathlib import Path

from gateway.app import Gateway  # noqa: F401 - importing registers every route
from gateway.http import ROUTES
from gateway.openapi import build_spec


def test_every_route_is_documented_with_its_schemas():
    spec = build_spec()
    assert ROUTES
    for route in ROUTES:
        operation = spec["paths"][route.path][route.method.lower()]
        assert operation["summary"]
        assert str(route.status) in operation["responses"]
        if route.body is not None:
            assert "application/json" in operation["requestBody"]["content"]
        if route.auth == "user":
            assert operation["security"][0] == {"bearer": []}
            assert (operation["security"][1:] == [{"apiToken": []}]) == (route.scope is not None)


def test_operation_ids_are_unique():
    spec = build_spec()
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))


def test_schema_names_do_not_collide():
    """Two schema classes with one name would be renamed by apispec with a warning (and a confusing document)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        names = build_spec()["components"]["schemas"]
    assert "Preview" in names and "MessagingPreview" in names  # contracts.invitations' and contracts.messaging's


def test_docs_api_page_lists_every_route():
    """docs/api.md is the repo's own overview of the API: it names every route the gateway serves,
    and no route it does not."""
    page = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    listed = set(re.findall(r"^\| ((?:GET|POST|PUT|PATCH|DELETE) /\S*) \|", page, flags=re.M))
    served = {f"{route.method} {route.path}" for route in ROUTES}
    assert served - listed == set() and listed - served == set()


def test_every_status_the_gateway_itself_answers_is_documented():
    """Issue 10 item 17: 415/413 where a body is read, 414 and 500 everywhere, 403 where a
    caller is signed in, 422 on changes, the unsubscribe page's 404 as HTML."""
    spec = build_spec()
    for route in ROUTES:
        responses = spec["paths"][route.path][route.method.lower()]["responses"]
        expected = {"400", "404", "414", "500", "503"}
        if route.body is not None or route.upload is not None:
            expected |= {"413", "415"}
        if route.auth != "public":
            expected |= {"401", "403"}
        if route.method != "GET":
            expected.add("422")
        assert expected <= set(responses), (route.method, route.path, expected - set(responses))
        if route.path.startswith("/scim/"):  # SCIM's own error shape (RFC 7644 3.12)
            assert responses["500"]["content"]["application/scim+json"]["schema"] == \
                {"$ref": "#/components/schemas/ScimError"}
            continue
        assert responses["500"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    page = spec["paths"]["/v1/unsubscribe/{token}"]["get"]["responses"]
    assert set(page["404"]["content"]) == {"text/html"} and set(page["200"]["content"]) == {"text/html"}
    assert {"200", "201"} <= set(spec["paths"]["/v1/enrollments"]["post"]["responses"])  # 200: already enrolled
    ready = spec["paths"]["/readyz"]["get"]["responses"]
    assert ready["503"]["content"] == ready["200"]["content"]  # the readiness body, not the error shape
    imports = spec["paths"]["/v1/invitations/imports"]["post"]
    assert "multipart/form-data" in imports["requestBody"]["content"]


def test_api_token_scopes_are_documented():
    from contracts.identity import API_TOKEN_SCOPES

    spec = build_spec()
    described = spec["components"]["securitySchemes"]["apiToken"]["description"]
    assert all(scope in described for scope in API_TOKEN_SCOPES)
    used = {op["x-api-token-scope"] for path in spec["paths"].values() for op in path.values()
            if "x-api-token-scope" in op}
    assert used <= set(API_TOKEN_SCOPES) and "programs:read" in used
    page = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    assert all(f"`{scope}`" in page for scope in API_TOKEN_SCOPES)
