"""The OpenAPI document covers every route the gateway serves."""
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
        if route.auth != "public":
            assert operation["security"] == [{"bearer": []}]


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
