"""The gateway's token-version check asks identity once per user per cache
window, and refuses tokens older than the user's version."""
import pytest

from contracts.errors import AppError
from gateway import auth
from gateway.auth import Principal, require_current_version


class CountingIdentity:
    def __init__(self, versions: dict):
        self.versions, self.calls = versions, 0

    def token_version(self, user_id):
        self.calls += 1
        return self.versions.get(user_id)


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch):
    monkeypatch.setattr(auth, "token_version_cache", auth.TokenCache())


def test_one_identity_call_per_user_within_the_window():
    identity = CountingIdentity({"u1": 2})
    for _ in range(50):
        require_current_version(Principal(user_id="u1", token_version=2), identity)
    assert identity.calls == 1


def test_an_older_version_or_an_unknown_user_is_revoked():
    identity = CountingIdentity({"u1": 3})
    with pytest.raises(AppError) as older:
        require_current_version(Principal(user_id="u1", token_version=2), identity)
    assert older.value.code == "TOKEN_REVOKED"
    with pytest.raises(AppError) as gone:
        require_current_version(Principal(user_id="u2", token_version=0), identity)
    assert gone.value.code == "TOKEN_REVOKED"


def test_the_answer_is_asked_again_after_the_window(monkeypatch):
    identity = CountingIdentity({"u1": 0})
    now = [1000.0]
    monkeypatch.setattr(auth.time, "time", lambda: now[0])
    require_current_version(Principal(user_id="u1"), identity)
    identity.versions["u1"] = 1
    require_current_version(Principal(user_id="u1"), identity)  # cached: still passes
    now[0] += auth.TOKEN_VERSION_CACHE_SECONDS + 0.1
    with pytest.raises(AppError):
        require_current_version(Principal(user_id="u1"), identity)
    assert identity.calls == 2
