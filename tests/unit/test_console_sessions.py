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
