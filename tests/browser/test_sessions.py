"""The console's session against the real suite: the cookie is encrypted (no token readable by the
client, even base64-decoded), a tampered cookie is no session, and concurrent requests on an expired
access token share one refresh-token rotation (identity revokes a token family when a rotated token is
used again: without the console's coordination the second request would sign the person out)."""
import base64
import threading

import requests

from tests.browser.conftest import PASSWORD, unique
from tests.browser.test_quality import signed_in_session


def serializer():
    from console.sessions import FernetSerializer
    from console.settings import DEV_CONSOLE_SECRET

    return FernetSerializer(DEV_CONSOLE_SECRET)


def session_of(cookie_value: str) -> dict:
    """The console's session cookie, opened with its (development) key."""
    return serializer().loads(cookie_value)


def cookie_of(http: requests.Session) -> str:
    return http.cookies.get("console_session")


def b64_decodings(value: str) -> list[bytes]:
    """Whatever a curious client could base64-decode out of the cookie (each dot-separated part too)."""
    out = []
    for part in [value, *value.split(".")]:
        for decode in (base64.urlsafe_b64decode, base64.b64decode):
            try:
                out.append(decode(part + "=" * (-len(part) % 4)))
            except ValueError:
                pass
    return out


def test_the_session_cookie_is_encrypted(suite, world):
    http, _ = signed_in_session(suite, world["admin_email"])
    value = cookie_of(http)
    opened = session_of(value)
    secrets = [opened["at"], opened["rt"], *opened["at"].split("."), opened["user"]["email"]]
    readable = [value.encode(), *b64_decodings(value)]
    for secret in secrets:
        assert not any(secret.encode() in text for text in readable), "a token is readable in the cookie"
    assert not any(b"eyJ" in text or b'"at"' in text for text in readable)  # no JWT, no JSON
    assert len(value) < 4000  # browsers keep cookies up to 4 KB
    # The same session opened by another key, or tampered with, is no session: back to sign-in.
    def flipped(at: int) -> str:
        return value[:at] + ("A" if value[at] != "A" else "B") + value[at + 1:]
    for cookie in (flipped(-6), flipped(len(value) // 2), "garbage", value[:-10]):
        answer = requests.get(f"{suite.console_url}/admin/", cookies={"console_session": cookie}, timeout=30,
                              allow_redirects=False)
        assert answer.status_code == 302 and "/sign-in?next=" in answer.headers["Location"], answer.status_code
    assert requests.get(f"{suite.console_url}/admin/", cookies={"console_session": value}, timeout=30,
                        allow_redirects=False).status_code == 200


def test_parallel_requests_on_an_expired_access_token_keep_the_session(suite, world):
    """Four requests of one browser at once, all carrying an access token past its expiry: each is
    answered as the signed-in admin, with the same new tokens, and the session goes on working."""
    http, _ = signed_in_session(suite, world["admin_email"])
    before = session_of(cookie_of(http))
    expired = serializer().dumps({**before, "exp": 0})  # the console refreshes a token past its expiry
    barrier = threading.Barrier(4)
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def load(path):
        barrier.wait()
        answer = requests.get(f"{suite.console_url}{path}", cookies={"console_session": expired}, timeout=60,
                              allow_redirects=False)
        with lock:
            answers.append(answer)

    paths = ("/admin/", "/admin/reports", f"/admin/programs/{world['program']['id']}", "/admin/settings/")
    threads = [threading.Thread(target=load, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert [a.status_code for a in answers] == [200] * 4, [(a.status_code, a.headers.get("Location"))
                                                          for a in answers]
    after = [session_of(a.cookies["console_session"]) for a in answers]
    assert len({s["rt"] for s in after}) == 1 and after[0]["rt"] != before["rt"], "one rotation, shared"
    assert all(s["exp"] > before["exp"] - 60 for s in after)
    # The session goes on: the rotated pair works (its family was not revoked as a reuse).
    again = requests.get(f"{suite.console_url}/admin/", cookies={"console_session": answers[0].cookies[
        "console_session"]}, timeout=30, allow_redirects=False)
    assert again.status_code == 200
    refreshed = requests.post(f"{suite.base_url}/v1/auth/refresh", json={"refresh_token": after[0]["rt"]},
                              timeout=30)
    assert refreshed.status_code == 200, refreshed.text


def test_a_program_admin_of_thirty_programs_keeps_a_session(suite, world):
    """The access token carries a program admin's program ids: the cookie must still fit a browser's 4 KB
    (the session keeps only the roles the pages use, not a second copy of the ids)."""
    from servicekit.standalone import unit_of_work
    from services.identity.commands import accounts, admins

    admin, org_id = world["admin"], world["org_id"]
    programs = [admin.call("POST", f"/v1/orgs/{org_id}/programs", json={
        "name": unique("Many"), "contract_ids": [world["contract"]["id"]]})["id"] for _ in range(30)]
    email = f"{unique('many')}@example.com"
    with unit_of_work("identity", suite.database_url("identity")) as uow:
        accounts.ensure_verified_person(uow, org_id, email, "Max Many", PASSWORD)
        admins.add_admin(uow, org_id, email, "Max Many", "PROGRAM_ADMIN", programs)
    http, _ = signed_in_session(suite, email)
    value = cookie_of(http)
    assert len(value) < 4000, len(value)
    assert session_of(value)["user"]["roles"] == [{"role": "PROGRAM_ADMIN", "org_id": org_id}]
    assert http.get(f"{suite.console_url}/admin/programs/{programs[-1]}", timeout=30).status_code == 200
