"""The console's session cookie (encrypted with a key from CONSOLE_SECRET) and its refresh coordinator,
without a running suite (tests/browser/test_sessions.py tests both against one)."""
import threading
import time

import pytest
from itsdangerous import BadSignature

from console.sessions import FernetSerializer, RefreshCoordinator
from console.settings import ConsoleSettings
from servicekit.config import ConfigError

SECRET = "a-test-secret-of-more-than-32-characters-0123"


def test_the_cookie_is_encrypted_and_opens_only_with_its_key():
    serializer = FernetSerializer(SECRET)
    value = serializer.dumps({"at": "eyJhbGciOi.access", "rt": "refresh-secret-value", "n": 1})
    assert "eyJ" not in value and "refresh-secret-value" not in value
    assert serializer.loads(value) == {"at": "eyJhbGciOi.access", "rt": "refresh-secret-value", "n": 1}
    for wrong in (FernetSerializer(SECRET + "x").loads, lambda v: serializer.loads(v[:-4] + "AAAA"),
                  lambda v: serializer.loads("not a cookie")):
        with pytest.raises(BadSignature):
            wrong(value)
    with pytest.raises(BadSignature):  # older than the session's lifetime
        serializer.loads(FernetSerializer(SECRET).fernet.encrypt_at_time(b"{}", int(time.time()) - 100).decode(),
                         max_age=10)


def test_no_built_in_key_outside_development(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("CONSOLE_SECRET", raising=False)
    with pytest.raises(ConfigError):
        ConsoleSettings.from_env()
    monkeypatch.setenv("CONSOLE_SECRET", "short")
    with pytest.raises(ConfigError):
        ConsoleSettings.from_env()
    monkeypatch.setenv("CONSOLE_SECRET", SECRET)
    assert ConsoleSettings.from_env().secret_key == SECRET


def test_the_scim_base_url_is_the_gateways_public_url(monkeypatch):
    """API_PUBLIC_URL (the SCIM base URL on Settings → Provisioning), else PUBLIC_URL, as identity reads it."""
    monkeypatch.delenv("API_PUBLIC_URL", raising=False)
    monkeypatch.setenv("PUBLIC_URL", "https://learning.example.com/")
    assert ConsoleSettings.from_env().api_public_url == "https://learning.example.com"
    monkeypatch.setenv("API_PUBLIC_URL", "https://api.example.com/")
    assert ConsoleSettings.from_env().api_public_url == "https://api.example.com"


def test_concurrent_refreshes_of_one_token_rotate_once():
    coordinator = RefreshCoordinator(grace=30)
    calls = []

    def rotate():
        calls.append(1)
        time.sleep(0.05)
        return {"refresh_token": f"rt-{len(calls)}"}

    results = []
    threads = [threading.Thread(target=lambda: results.append(coordinator.refresh("rt-0", rotate)))
               for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and results == [{"refresh_token": "rt-1"}] * 5
    assert coordinator.refresh("rt-1", rotate) == {"refresh_token": "rt-2"}  # another token: its own rotation


def test_a_refused_refresh_is_not_remembered():
    coordinator = RefreshCoordinator(grace=30)

    def refuse():
        raise RuntimeError("401")

    with pytest.raises(RuntimeError):
        coordinator.refresh("rt-x", refuse)
    assert coordinator.refresh("rt-x", lambda: {"ok": True}) == {"ok": True}
    assert not [k for k in coordinator._locks if k not in coordinator._recent]


# ---------------------------------------------------------------- the cookie in chunks

def fake_jwt(programs: int) -> str:
    """An access token shaped like identity's: the program admin's program ids in its claims."""
    import base64
    import json
    import secrets
    import uuid

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    claims = {"sub": str(uuid.uuid4()), "typ": "access", "email": "max@example.com", "email_verified": True,
              "roles": [{"role": "PROGRAM_ADMIN", "org_id": str(uuid.uuid4()),
                         "program_ids": [str(uuid.uuid4()) for _ in range(programs)]}],
              "ver": 0, "iat": 1, "exp": 2, "jti": uuid.uuid4().hex}
    header = b64(json.dumps({"alg": "EdDSA", "kid": "k1"}).encode())
    return f"{header}.{b64(json.dumps(claims).encode())}.{b64(secrets.token_bytes(64))}"


@pytest.fixture()
def app():
    from flask import Flask, jsonify, request, session

    from console.sessions import EncryptedSessionInterface

    app = Flask("chunks")
    app.config.update(SECRET_KEY=SECRET, SESSION_COOKIE_NAME="console_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=True)
    app.session_interface = EncryptedSessionInterface()

    @app.post("/set")
    def put():
        session.update(request.get_json())
        session.permanent = True
        return "ok"

    @app.get("/get")
    def get():
        return jsonify(dict(session))

    @app.post("/clear")
    def clear():
        session.clear()
        return "ok"

    return app


def session_cookies(client) -> dict[str, str]:
    return {c.key: c.value for c in client._cookies.values() if c.key.startswith("console_session")}


def test_a_session_of_200_programs_goes_round_trip_in_chunks(app):
    client = app.test_client()
    token = fake_jwt(200)
    answer = client.post("/set", json={"at": token, "rt": "refresh-secret", "csrf": "c" * 43})
    headers = answer.headers.getlist("Set-Cookie")
    assert len(headers) >= 2 and all(len(h.encode()) < 4000 for h in headers), [len(h) for h in headers]
    assert all("HttpOnly" in h and "Secure" in h and "SameSite=Lax" in h for h in headers)
    assert [h.split("=", 1)[0] for h in headers] == ["console_session", *[f"console_session.{i}"
                                                                          for i in range(1, len(headers))]]
    cookies = session_cookies(client)
    total = sum(len(name) + len(value) + 3 for name, value in cookies.items())  # "name=value; "
    assert total < 8000, total  # one header line a proxy accepts by default (docs/console.md)
    assert all(token.split(".")[1][:40] not in value for value in cookies.values())
    assert client.get("/get").get_json() == {"at": token, "rt": "refresh-secret", "csrf": "c" * 43,
                                             "_permanent": True}


def test_a_session_that_shrinks_deletes_its_extra_chunks(app):
    client = app.test_client()
    client.post("/set", json={"at": fake_jwt(600)})
    assert len(session_cookies(client)) >= 4
    client.post("/set", json={"at": fake_jwt(150)})
    two = session_cookies(client)
    assert sorted(two) == ["console_session", "console_session.1"], sorted(two)
    client.post("/set", json={"at": "a.b.c"})
    assert list(session_cookies(client)) == ["console_session"]
    assert not session_cookies(client)["console_session"][0].isdigit()  # one cookie: no count
    assert client.get("/get").get_json()["at"] == "a.b.c"
    client.post("/set", json={"at": fake_jwt(600)})
    client.post("/clear")
    assert session_cookies(client) == {}  # signing out deletes every chunk


def test_a_tampered_or_missing_chunk_is_no_session(app):
    client = app.test_client()
    client.post("/set", json={"at": fake_jwt(300), "rt": "refresh-secret"})
    cookies = session_cookies(client)
    assert len(cookies) == 3

    def opened(jar: dict) -> dict:
        browser = app.test_client()
        for name, value in jar.items():
            browser.set_cookie(name, value)
        return browser.get("/get").get_json()

    assert opened(cookies)["rt"] == "refresh-secret"

    for name in cookies:
        value = cookies[name]
        flipped = value[:100] + ("A" if value[100] != "A" else "B") + value[101:]
        assert opened({**cookies, name: flipped}) == {}, name
        assert opened({k: v for k, v in cookies.items() if k != name}) == {}, name
    swapped = {**cookies, "console_session.1": cookies["console_session.2"],
               "console_session.2": cookies["console_session.1"]}
    assert opened(swapped) == {}
    assert opened({**cookies, "console_session": "2." + cookies["console_session"].split(".", 1)[1]}) == {}


def test_the_access_token_is_packed_and_rebuilt_exactly():
    serializer = FernetSerializer(SECRET)
    for token in (fake_jwt(0), fake_jwt(200), "not-a-jwt", "a.b!.c", "a.QQ.c"):  # "QQ" is not canonical
        assert serializer.loads(serializer.dumps({"at": token, "n": 1})) == {"at": token, "n": 1}
    plain = serializer.fernet.decrypt(serializer.dumps({"at": fake_jwt(30)}).encode())
    assert plain.startswith(b"\x01")
    sizes = {n: len(serializer.dumps({"at": fake_jwt(n), "rt": "r" * 43, "csrf": "c" * 43})) for n in (30, 200)}
    assert sizes[30] < 2600 and sizes[200] < 7600, sizes
