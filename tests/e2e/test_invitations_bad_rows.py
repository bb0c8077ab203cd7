"""Bad characters in a CSV row, uploaded through the gateway: the row is
rejected with a reason, the good rows are imported (issue 10, items 2 and 4),
and an email the single-invitation API refuses is refused by the importer
for the same reason (item 13)."""
import csv
import io

from tests.e2e.conftest import unique
from tests.e2e.test_invitations import finished_import, invite, setup_program, upload


def rejected_reasons(admin, import_id: str) -> dict[str, dict]:
    rejected = admin.get(f"/v1/invitations/imports/{import_id}/rejected.csv")
    assert rejected.status_code == 200, rejected.text
    return {row["Row"]: row for row in csv.DictReader(io.StringIO(rejected.text))}


def test_a_row_with_a_nul_a_surrogate_or_a_control_character_is_rejected_alone(make_org):
    org_id, admin, _ = make_org()
    program, contract = setup_program(admin, org_id)
    tag = unique("b")
    content = b"".join([
        b"Full Name,Email,External ID\r\n",
        f"Ann Good,ann-{tag}@ex.com,A1\r\n".encode(),                       # 2
        f"Nul\x00Name,nul-{tag}@ex.com,A2\r\n".encode(),                    # 3
        f"Nul Email,nul\x00-{tag}@ex.com,A3\r\n".encode(),                  # 4
        b"Lone \xed\xa0\x80 Surrogate," + f"sur-{tag}@ex.com,A4\r\n".encode(),  # 5: U+D800 encoded
        f"\"Line\r\nBreak\",crlf-{tag}@ex.com,A5\r\n".encode(),             # 6 (a quoted line break)
        f"\"X\r\nBcc: victim@ex.com\",bcc-{tag}@ex.com,\r\n".encode(),      # 7
        f"Bell Id,bell-{tag}@ex.com,A\x07\r\n".encode(),                   # 8
        f"Bob Good,bob-{tag}@ex.com,\r\n".encode(),                        # 9
    ])
    started = upload(admin, program, contract, content)
    assert started.status_code == 202, started.text
    job = finished_import(admin, started.json()["import_id"], timeout=60)
    assert job["status"] == "COMPLETED", job
    assert (job["total_rows"], job["created"], job["invalid"], job["duplicates"]) == (8, 2, 6, 0)
    invited = {i["email"] for i in admin.get(f"/v1/programs/{program['id']}/invitations").json()["items"]}
    assert invited == {f"ann-{tag}@ex.com", f"bob-{tag}@ex.com"}

    rows = rejected_reasons(admin, job["import_id"])
    reasons = {number: row["Reason"] for number, row in rows.items()}
    assert reasons == {
        "3": "Full Name: contains a NUL character (INVALID_CHARACTER)",
        "4": "Email: contains a NUL character (EMAIL_INVALID)",
        "5": "Full Name: contains a lone surrogate (not valid Unicode text) (INVALID_CHARACTER)",
        "6": "Full Name: line breaks, tabs and other control characters are not allowed (U+000D) "
             "(CONTROL_CHARACTER)",
        "7": "Full Name: line breaks, tabs and other control characters are not allowed (U+000D) "
             "(CONTROL_CHARACTER)",
        "8": "External ID: line breaks, tabs and other control characters are not allowed (U+0007) "
             "(CONTROL_CHARACTER)",
    }
    # the rejected rows show what was sent, the unprintable characters spelled out
    assert rows["3"]["Full Name"] == "Nul\\u0000Name"
    assert rows["5"]["Full Name"] == "Lone \\ud800 Surrogate"
    assert rows["6"]["Full Name"] == "Line\\u000d\\u000aBreak"


def test_a_non_ascii_local_part_is_refused_alike_by_the_api_and_the_importer(make_org):
    org_id, admin, _ = make_org()
    program, contract = setup_program(admin, org_id)
    tag = unique("u")
    single = invite(admin, program, contract, f"jöhn.x-{tag}@ex.com")
    assert single.status_code == 400, single.text
    error = single.json()["error"]
    assert error["code"] == "INVALID_INPUT" and "EMAIL_LOCAL_PART_NOT_ASCII" in str(error["details"]["email"])

    content = f"Full Name,Email,External ID\nJohn X,jöhn.x-{tag}@ex.com,\nAnn,ann-{tag}@ex.com,\n".encode()
    job = finished_import(admin, upload(admin, program, contract, content).json()["import_id"])
    assert (job["created"], job["invalid"]) == (1, 1)
    reason = rejected_reasons(admin, job["import_id"])["2"]["Reason"]
    assert reason.startswith("Email: the part before @ must be ASCII") and "(EMAIL_LOCAL_PART_NOT_ASCII)" in reason
