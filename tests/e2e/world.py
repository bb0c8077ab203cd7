"""A small organization with one of every object, made through the public API,
so that fuzzing and the bad-input corpus reach real objects (real ids in
paths) and not only the 404 of an unknown id."""
from datetime import date, timedelta

from servicekit.standalone import unit_of_work
from tests.e2e.conftest import Api, create_org, unique


def build_world(suite, api: Api) -> dict:
    from services.programs.commands import catalog

    with unit_of_work("programs", suite.database_url("programs")) as uow:
        catalog.load_catalog_file(uow, catalog.DEMO_CATALOG)
    org_id, admin, admin_email = create_org(suite, api)
    today = date.today()

    def created(response, status=201):
        assert response.status_code == status, response.text
        return response.json()

    contract = created(admin.post(f"/v1/orgs/{org_id}/contracts", json={
        "name": unique("Contract"), "license_count": 1000,
        "starts_on": str(today - timedelta(days=1)), "ends_on": str(today + timedelta(days=365))}))
    program = created(admin.post(f"/v1/orgs/{org_id}/programs", json={
        "name": unique("Program"), "contract_ids": [contract["id"]]}))
    course = admin.get("/v1/catalog/courses", params={"limit": 1}).json()["items"][0]
    collection = created(admin.post(f"/v1/programs/{program['id']}/collections",
                                    json={"name": unique("Collection"), "description": "picked"}))
    collection = created(admin.post(f"/v1/collections/{collection['id']}/items",
                                    json={"course_ids": [course["id"]], "specialization_ids": []}), 200)
    invitation = created(admin.post("/v1/invitations", json={
        "program_id": program["id"], "contract_id": contract["id"], "email": f"{unique('learner')}@example.com",
        "full_name": "Lee Learner", "send_email": False}))
    message = created(admin.post(f"/v1/orgs/{org_id}/messages", json={
        "audience": {"preset": "ALL_MEMBERS"}, "subject": "Hello", "content": "Welcome aboard",
        "sender_name": "Learning team"}))
    token = created(admin.post(f"/v1/orgs/{org_id}/api-tokens", json={"name": unique("token"),
                                                                      "scopes": ["reports:read"]}))
    # SCIM: the invitee provisioned by the organization's identity provider, in a group mapped to the program
    scim_token = created(admin.post(f"/v1/orgs/{org_id}/api-tokens", json={"name": unique("idp"),
                                                                           "scopes": ["scim"]}))["token"]
    idp = Api(suite.base_url, scim_token)
    scim_user = created(idp.post("/scim/v2/Users", json={"userName": invitation["email"], "active": True}))
    scim_group = created(idp.post("/scim/v2/Groups", json={"displayName": unique("Group"),
                                                           "members": [{"value": scim_user["id"]}]}))
    mapping = created(admin.put(f"/v1/orgs/{org_id}/scim/group-mappings", json={
        "display_name": unique("Mapped"), "program_id": program["id"], "contract_id": contract["id"]}), 200)
    admins = admin.get(f"/v1/orgs/{org_id}/admins").json()
    admin_list = admins["items"] if isinstance(admins, dict) else admins
    return {
        "admin": admin,
        "admin_email": admin_email,
        "scim_token": scim_token,
        "ids": {
            "group_id": scim_group["id"],
            "mapping_id": mapping["id"],
            "name": "User",
            "urn": "urn:ietf:params:scim:schemas:core:2.0:User",
            "org_id": org_id,
            "program_id": program["id"],
            "slug": program.get("slug") or program["id"],
            "contract_id": contract["id"],
            "collection_id": collection["id"],
            "item_id": course["id"],
            "invitation_id": invitation["id"],
            "user_id": scim_user["id"],
            "message_id": message["id"],
            "token_id": token["id"],
            "admin_id": admin_list[0].get("id") or admin_list[0]["user_id"],
        },
    }
