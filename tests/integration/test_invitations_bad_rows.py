"""A CSV row with a NUL byte or a lone surrogate, given to the invitations
service directly (RPC and its import worker, next to the real identity and
programs): only that row is rejected, with its reason."""
import base64

from tests.integration.test_invitations_with_identity_and_programs import (
    rpc,
    setup_program,
    wait_import,
)

__all__ = ["rpc"]  # the fixture, shared


def test_a_nul_or_a_surrogate_rejects_only_its_row(rpc):
    org_id, program, contract = setup_program(rpc)
    content = (b"Full Name,Email,External ID\n"
               b"Ann,ann@ex.com,A1\n"
               b"Nul\x00,nul@ex.com,A2\n"
               b"Sur \xed\xb0\x80,sur@ex.com,A3\n"
               b"Cy,cy@ex.com,\x00\n"
               b"Dee,dee@ex.com,\n")
    job = rpc.invitations.start_import(org_id, program["id"], contract["id"], False,
                                       base64.b64encode(content).decode(), "p.csv")
    done = wait_import(rpc, org_id, job["import_id"], timeout=30)
    assert (done["status"], done["total_rows"], done["created"], done["invalid"]) == ("COMPLETED", 5, 2, 3)
    rejected = rpc.invitations.rejected_csv(org_id, job["import_id"])
    assert "3,Nul\\u0000,nul@ex.com,A2,Full Name: contains a NUL character (INVALID_CHARACTER)" in rejected
    assert "4,Sur \\udc00,sur@ex.com,A3,Full Name: contains a lone surrogate" in rejected
    assert "5,Cy,cy@ex.com,\\u0000,External ID: contains a NUL character (INVALID_CHARACTER)" in rejected


def test_a_file_name_with_a_nul_is_kept_spelled_out(rpc):
    org_id, program, contract = setup_program(rpc)
    content = base64.b64encode(b"Full Name,Email,External ID\nAnn,ann@ex.com,\n").decode()
    job = rpc.invitations.start_import(org_id, program["id"], contract["id"], False, content, "p\x00\r\n.csv")
    assert job["filename"] == "p\\u0000\\u000d\\u000a.csv"
    assert wait_import(rpc, org_id, job["import_id"], timeout=30)["created"] == 1
