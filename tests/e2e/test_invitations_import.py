"""Bulk invitations end to end: real CSV files uploaded through the gateway,
processed in the background by the invitations service."""
import csv
import io

from tests.e2e.conftest import unique
from tests.e2e.test_invitations import (
    emailed_invitation,
    finished_import,
    inv_db,
    members,
    scalar,
    setup_program,
    upload,
    wait_for,
)
from tests.support.csvfiles import invitations_csv

__all__ = ["inv_db"]  # the module fixture, shared


def test_template(make_org):
    _, admin, _ = make_org()
    template = admin.get("/v1/invitations/template.csv")
    assert template.status_code == 200 and template.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in template.headers["Content-Disposition"]
    assert template.text.strip() == "Full Name,Email,External ID"


def test_a_real_world_file_with_bad_rows_and_a_second_upload(make_org, inv_db):
    org_id, admin, _ = make_org()
    program, contract = setup_program(admin, org_id)
    tag = unique("f")
    existing = admin.post("/v1/invitations", json={"program_id": program["id"], "contract_id": contract["id"],
                                                   "full_name": "Already Pending", "email": f"pending-{tag}@ex.com"})
    assert existing.status_code == 201
    # BOM, CRLF, headers in another order and case, quoted comma and newline, blank lines, bad rows
    content = (
        "\ufeffemail,EXTERNAL ID,full name\r\n"
        f"ann-{tag}@ex.com,E1,\"Lovelace, Ann\"\r\n"
        f"bob-{tag}@ex.com,,\"Bob\nNewline\"\r\n"
        "\r\n"
        f"not-an-email,E3,Carl Bad\r\n"
        f"dan-{tag}@ex.com,E4,\r\n"
        f"ANN-{tag}@EX.com ,E5,Ann Again\r\n"
        f"pending-{tag}@ex.com,,Already Pending\r\n"
        f"eve-{tag}@ex.com,{'x' * 201},Eve Long\r\n"
        f"@evil-{tag},,=HYPERLINK(\"http://evil\")\r\n"
        f"{'f' * 250}@ex.com,,Far Too Long\r\n"
        f"  fay-{tag}@ex.com  ,E9,  Fay Spaces  \r\n"
        "\r\n\r\n"
    ).encode()
    started = upload(admin, program, contract, content)
    assert started.status_code == 202, started.text
    assert started.json()["total_rows"] == 10
    job = finished_import(admin, started.json()["import_id"])
    assert job["status"] == "COMPLETED", job
    assert (job["total_rows"], job["processed_rows"], job["created"], job["duplicates"], job["invalid"]) == \
        (10, 10, 2, 2, 6)

    invited = {i["email"]: i for i in admin.get(f"/v1/programs/{program['id']}/invitations",
                                                params={"limit": 200}).json()["items"]}
    assert invited[f"ann-{tag}@ex.com"]["full_name"] == "Lovelace, Ann"
    assert invited[f"ann-{tag}@ex.com"]["external_id"] == "E1"
    assert f"bob-{tag}@ex.com" not in invited  # a line break in a name is refused (issue 10, item 2)
    assert invited[f"fay-{tag}@ex.com"]["full_name"] == "Fay Spaces"
    wait_for(lambda: len(members(admin, program["id"], "INVITED")) == 3)

    rejected = admin.get(f"/v1/invitations/imports/{job['import_id']}/rejected.csv")
    assert rejected.status_code == 200 and rejected.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(rejected.text)))
    assert list(rows[0]) == ["Row", "Full Name", "Email", "External ID", "Reason"]
    reasons = {row["Row"]: row["Reason"] for row in rows}
    assert reasons.pop("3") == "Full Name: line breaks, tabs and other control characters are not allowed " \
        "(U+000A) (CONTROL_CHARACTER)"  # the line break in Bob's name (issue 10, item 2)
    assert reasons == {
        "5": "Email is not a valid address",
        "6": "Full Name is missing",
        "7": "duplicate: the email appears earlier in the file",
        "8": "duplicate: a pending invitation exists",
        "9": "External ID is longer than 200 characters",
        "10": "Email is not a valid address",
        "11": "Email is longer than 254 characters",
    }
    formula = next(row for row in rows if row["Row"] == "10")
    assert formula["Full Name"].startswith("'=") and formula["Email"].startswith("'@")

    again = upload(admin, program, contract, content)
    assert again.status_code == 202
    second = finished_import(admin, again.json()["import_id"])
    assert (second["created"], second["duplicates"], second["invalid"]) == (0, 4, 6)
    assert scalar(inv_db, "SELECT count(*) FROM invitations WHERE program_id = :p", p=program["id"]) == 3


def test_excel_semicolon_file_sent_by_email(suite, make_org, inv_db):
    org_id, admin, _ = make_org()
    program, contract = setup_program(admin, org_id)
    tag = unique("s")
    content = f"Full Name;Email;External ID\n\"Smith; Jo\";jo-{tag}@ex.com;7\nKim Lee;kim-{tag}@ex.com;\n".encode()
    job = finished_import(admin, upload(admin, program, contract, content, send_email="true").json()["import_id"])
    assert (job["created"], job["invalid"], job["duplicates"]) == (2, 0, 0)
    names = {i["full_name"] for i in admin.get(f"/v1/programs/{program['id']}/invitations").json()["items"]}
    assert names == {"Smith; Jo", "Kim Lee"}
    # the import announces its invitations in one event; each row's email carries its own link
    links = scalar(inv_db, "SELECT count(DISTINCT i->>'accept_url') FROM kit_outbox, "
                           "jsonb_array_elements(envelope->'payload'->'invitations') AS i "
                           "WHERE event_type = 'invitations.invitations.created.v1' "
                           "AND envelope->'payload'->>'program_id' = :p AND i->>'accept_url' LIKE '%token=%'",
                   p=program["id"])
    assert links == 2
    # and messaging sent each of them (the invitation email, with its link)
    for email in (f"jo-{tag}@ex.com", f"kim-{tag}@ex.com"):
        assert "token=" in emailed_invitation(suite, email).get_body(("plain",)).get_content()
    invited = {m["email"] for m in members(admin, program["id"], "INVITED")}
    assert invited == {f"jo-{tag}@ex.com", f"kim-{tag}@ex.com"}


def test_bad_files_are_refused_with_what_is_wrong(make_org):
    org_id, admin, _ = make_org()
    program, contract = setup_program(admin, org_id)

    def refused(content, status, code, words):
        response = upload(admin, program, contract, content)
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["code"] == code and all(w in error["message"] for w in words), error

    refused("Full Name,Email,External ID\nJosé Núñez,jose@ex.com,\n".encode("latin-1"), 422, "INVALID_FILE",
            ["UTF-8"])
    refused(b"Name,Email\nAnn,ann@ex.com\n", 422, "INVALID_FILE", ["Full Name", "External ID"])
    refused(b"", 422, "INVALID_FILE", ["empty"])
    refused(b"\r\n\r\n", 422, "INVALID_FILE", ["empty"])
    refused(b"Full Name,Email,External ID\r\n", 422, "INVALID_FILE", ["no rows"])
    refused(b"Full Name,Email,External ID\n" + b"A," * (10 * 1024 * 1024) + b"\n", 413, "PAYLOAD_TOO_LARGE",
            ["20 MB"])

    no_file = admin.post("/v1/invitations/imports", data={"program_id": program["id"],
                                                          "contract_id": contract["id"]})
    assert no_file.status_code in (400, 415)
    multipart_no_file = admin.post("/v1/invitations/imports", files={"other": ("x", b"y")},
                                   data={"program_id": program["id"], "contract_id": contract["id"]})
    assert multipart_no_file.status_code == 400 and "file" in multipart_no_file.json()["error"]["details"]
    as_json = admin.post("/v1/invitations/imports", json={"program_id": program["id"]})
    assert as_json.status_code == 415
    bad_flag = admin.post("/v1/invitations/imports", files={"file": ("p.csv", b"Full Name,Email,External ID\n")},
                          data={"program_id": program["id"], "contract_id": contract["id"], "send_email": "maybe"})
    assert bad_flag.status_code == 400


def test_a_crash_mid_import_resumes_without_duplicates(suite, make_org, inv_db):
    org_id, admin, _ = make_org()
    program, contract = setup_program(admin, org_id)
    rows = 5_000  # 25 batches of 200 (INVITATION_IMPORT_BATCH in test_invitations): time to crash midway
    started = upload(admin, program, contract, invitations_csv(rows, unique("c")))
    assert started.status_code == 202
    import_id = started.json()["import_id"]

    def midway():
        status = admin.get(f"/v1/invitations/imports/{import_id}").json()
        return 0 < status["processed_rows"] < rows

    wait_for(midway, timeout=120, interval=0.05)
    suite.restart("invitations")

    job = finished_import(admin, import_id, timeout=240)
    assert job["status"] == "COMPLETED", job
    assert (job["processed_rows"], job["created"], job["duplicates"], job["invalid"]) == (rows, rows, 0, 0)
    assert scalar(inv_db, "SELECT count(*) FROM invitations WHERE import_id = :i", i=import_id) == rows
    assert scalar(inv_db, "SELECT count(DISTINCT email) FROM invitations WHERE import_id = :i", i=import_id) == rows
    # each invitation announced exactly once (in the batch events of the committed batches)
    announced = "SELECT count({}) FROM kit_outbox, jsonb_array_elements(envelope->'payload'->'invitations') AS i " \
                "WHERE event_type = 'invitations.invitations.created.v1' AND envelope->'payload'->>'program_id' = :p"
    assert scalar(inv_db, announced.format("*"), p=program["id"]) == rows
    assert scalar(inv_db, announced.format("DISTINCT i->>'invitation_id'"), p=program["id"]) == rows
    assert scalar(inv_db, "SELECT attempts FROM import_jobs WHERE id = :i", i=import_id) >= 2
