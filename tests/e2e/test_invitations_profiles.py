"""An invitation fills a person's empty profile fields and never overwrites
existing ones: a program admin cannot rewrite anyone's organization profile by
inviting them, one by one or by CSV (issue 11, item 8)."""
from tests.e2e.conftest import unique
from tests.e2e.test_invitations import add_program_admin, finished_import, invite, setup_program, upload


def profile(admin, org_id: str, user_id: str) -> dict:
    person = admin.get(f"/v1/orgs/{org_id}/people/{user_id}")
    assert person.status_code == 200, person.text
    return person.json()


def test_an_invitation_fills_empty_fields_and_keeps_existing_ones(suite, api, make_org):
    org_id, admin, _ = make_org()
    program_a, contract_a = setup_program(admin, org_id)
    program_b, contract_b = setup_program(admin, org_id)
    program_c, contract_c = setup_program(admin, org_id)
    kept, filled = f"{unique('kept')}@ex.com", f"{unique('fill')}@ex.com"

    first = invite(admin, program_a, contract_a, kept, send_email=False, external_id="HR-1")
    assert first.status_code == 201, first.text
    kept_id = first.json()["user_id"]
    changed = admin.patch(f"/v1/orgs/{org_id}/people/{kept_id}", json={"job_title": "Controller"})
    assert changed.status_code == 200, changed.text
    other = invite(admin, program_a, contract_a, filled, send_email=False)
    assert other.status_code == 201, other.text
    filled_id = other.json()["user_id"]

    program_admin = add_program_admin(suite, api, org_id, [program_b["id"], program_c["id"]])
    again = invite(program_admin, program_b, contract_b, kept, send_email=False, external_id="HACKED")
    assert again.status_code == 201, again.text
    assert profile(admin, org_id, kept_id)["external_id"] == "HR-1"  # kept: the program admin changed nothing

    content = f"Full Name,Email,External ID\nFill Me,{filled},HR-2\nKept Again,{kept},HACKED-2\n".encode()
    job = finished_import(program_admin, upload(program_admin, program_c, contract_c, content).json()["import_id"])
    assert (job["status"], job["created"]) == ("COMPLETED", 2), job
    assert profile(admin, org_id, filled_id)["external_id"] == "HR-2"  # empty: filled in
    kept_profile = profile(admin, org_id, kept_id)
    assert (kept_profile["external_id"], kept_profile["job_title"]) == ("HR-1", "Controller")
