"""SCIM without a database: filters (scim2-filter-parser's grammar), PATCH
operations in the forms Entra and Okta send, and the User mapping."""
import pytest
from sqlalchemy import Boolean, Column, MetaData, String, Table
from sqlalchemy.dialects import postgresql

from contracts.errors import AppError
from contracts.scim import CORE_USER, ENTERPRISE_USER
from services.identity.scim import filters
from services.identity.scim.resources import apply_patch, extract_group, extract_user, split_path

USERS = Table("u", MetaData(), Column("user_name_key", String), Column("external_id", String),
              Column("email", String), Column("active", Boolean))
COLUMNS = {"username": (USERS.c.user_name_key, "lc"), "externalid": (USERS.c.external_id, "cs"),
           "emails.value": (USERS.c.email, "ci"), "emails": (USERS.c.email, "ci"),
           "emails.type": ("work", "constant"), "active": (USERS.c.active, "bool")}


def sql(text: str) -> str:
    condition = filters.condition(text, COLUMNS)
    return str(condition.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def test_okta_probe_filter_is_a_case_insensitive_equality():
    assert sql('userName eq "Ada@Example.com"') == "u.user_name_key = 'ada@example.com'"  # the index's column


def params(text: str) -> list:
    return list(filters.condition(text, COLUMNS).compile(dialect=postgresql.dialect()).params.values())


def test_filters_combine_and_escape_like_wildcards():
    text = sql('userName sw "a%_" and not (active eq false)')
    assert text.startswith("u.user_name_key LIKE ") and "ESCAPE" in text and "AND u.active != false" in text
    assert "a\\%\\_%" in params('userName sw "a%_"')  # the user's % and _ match themselves only
    assert sql('externalId eq "X1" or emails.value co "@acme"').startswith("u.external_id = 'X1' OR lower(u.email)")
    assert sql("externalId pr") == "u.external_id IS NOT NULL"


def test_value_filter_on_emails():
    assert "lower(u.email) = 'a@b.c'" in sql('emails[type eq "work"].value eq "a@b.c"')
    assert "false" in sql('emails[type eq "home"].value eq "a@b.c"')


@pytest.mark.parametrize("text", ['nosuch eq "x"', 'userName eq', "((", 'userName eq "x" and', "",
                                  'active eq "yes"', 'userName gt true', "x" * 3000,
                                  " and ".join(['(userName eq "a"'] * 30) + ")" * 30])
def test_bad_or_unknown_filters_are_invalid_filter_never_ignored(text):
    with pytest.raises(AppError) as refused:
        sql(text)
    assert refused.value.details["scimType"] == "invalidFilter"


def user(**more) -> dict:
    return {"schemas": [CORE_USER], "userName": "ada@acme.example", "name": {"givenName": "Ada", "familyName": "L"},
            "emails": [{"value": "ada@acme.example", "type": "work", "primary": True}], "active": True, **more}


def test_user_mapping_to_profile_columns():
    fields = extract_user(user(title="Analyst", userType="Employee", externalId="E1",
                               addresses=[{"type": "work", "locality": "Lyon", "country": "FR", "region": "ARA"}],
                               **{ENTERPRISE_USER: {"department": "Data", "division": "R&D",
                                                    "manager": {"value": "boss@acme.example",
                                                                "displayName": "Bo Ss"}},
                                  "unknownAttribute": {"anything": 1}}))
    assert fields["job_title"] == "Analyst" and fields["job_type"] == "Employee" and fields["external_id"] == "E1"
    assert (fields["location_city"], fields["location_country"], fields["location_region"]) == ("Lyon", "FR", "ARA")
    assert (fields["business_unit"], fields["business_unit_2"]) == ("Data", "R&D")
    assert (fields["manager_id"], fields["manager_name"]) == ("boss@acme.example", "Bo Ss")
    assert fields["full_name"] == "Ada L" and fields["email"] == "ada@acme.example" and fields["active"] is True


def test_entra_active_strings_and_bad_values():
    assert extract_user(user(active="False"))["active"] is False
    assert extract_user(user(active="True"))["active"] is True
    for bad in ({"active": "nope"}, {"active": 0}, {"userName": 5}, {"userName": ""}, {"title": "x" * 201},
                {"title": "a\r\nb"}, {"emails": "ada@acme.example"}, {"name": "Ada"}):
        with pytest.raises(AppError) as refused:
            extract_user(user(**bad))
        assert refused.value.details["scimType"] in ("invalidValue", "invalidSyntax"), bad


def test_entra_pascal_case_replace_with_filtered_email_path_and_urn_keys():
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "ada@acme.example"},
        {"op": "Replace", "path": "name.givenName", "value": "Adeline"},
        {"op": "Add", "path": f"{ENTERPRISE_USER}:manager", "value": "7d1c0e4c-6e0f-4a31-9d2c-1f2d3e4f5a6b"},
        {"op": "Replace", "value": {f"{ENTERPRISE_USER}:department": "Finance", "title": "Lead"}},
        {"op": "Replace", "path": "active", "value": "False"},
    ]}
    fields = extract_user(apply_patch(user(), body))
    assert fields["given_name"] == "Adeline" and fields["business_unit"] == "Finance" and fields["job_title"] == "Lead"
    assert fields["manager_id"] == "7d1c0e4c-6e0f-4a31-9d2c-1f2d3e4f5a6b"
    assert fields["active"] is False and fields["email"] == "ada@acme.example"


def test_filtered_path_without_a_match_adds_the_element():
    patched = apply_patch(user(emails=[]), {"Operations": [
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "new@acme.example"}]})
    assert patched["emails"] == [{"type": "work", "value": "new@acme.example"}]


def test_okta_replace_without_path_and_remove():
    patched = apply_patch(user(title="Analyst"), {"Operations": [
        {"op": "replace", "value": {"active": False}}, {"op": "remove", "path": "title"}]})
    assert patched["active"] is False and "title" not in patched


def test_group_member_operations_in_entra_form():
    group = {"displayName": "Data Academy", "members": [{"value": "a"}, {"value": "b"}]}
    patched = apply_patch(group, {"Operations": [
        {"op": "Add", "path": "members", "value": [{"value": "c"}]},
        {"op": "Remove", "path": "members", "value": [{"value": "a"}]},
        {"op": "remove", "path": 'members[value eq "b"]'}]})
    assert extract_group(patched)["members"] == ["c"]


@pytest.mark.parametrize("body", [None, [], {"Operations": []}, {"Operations": [{"op": "move", "path": "x"}]},
                                  {"Operations": [{"op": "remove"}]}, {"Operations": ["x"]},
                                  {"Operations": [{"op": "add", "path": "emails[", "value": 1}]},
                                  {"Operations": [{"op": "add", "path": "urn:nope:x", "value": 1}]},
                                  {"Operations": [{"op": "add", "path": 'title[type eq "x"]', "value": {}}]}])
def test_bad_patches_are_scim_errors(body):
    with pytest.raises(AppError) as refused:
        apply_patch(user(title="t"), body)
    assert refused.value.details["scimType"] in ("invalidSyntax", "noTarget", "invalidPath", "invalidValue",
                                                 "invalidFilter")


def test_paths():
    assert split_path(f"{ENTERPRISE_USER}:manager") == (ENTERPRISE_USER, "manager", None, None)
    assert split_path(f"{CORE_USER}:userName") == (None, "userName", None, None)
    assert split_path('emails[type eq "work"].value') == (None, "emails", 'type eq "work"', "value")


def test_a_manager_named_by_address_is_normalised_as_every_email_is():
    """The enterprise extension's manager given as an address: the one email rule (its domain in IDNA form,
    as identity stores every account's email), not lower-casing alone."""
    from services.identity.commands.scim import _manager_email

    assert _manager_email(None, "org", {"manager_id": " Boss@Bücher.Example "}) == "boss@xn--bcher-kva.example"
    assert _manager_email(None, "org", {"manager_id": "Boss@Example.COM"}) == "boss@example.com"
    assert _manager_email(None, "org", {"manager_email": "given@example.com", "manager_id": "x@y.example"}) == \
        "given@example.com"
