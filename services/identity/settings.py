"""identity's configuration, read from the environment when the service (or a
command) first needs it, never at import time."""
import functools
import os
from dataclasses import dataclass
from datetime import timedelta

from servicekit import config


@dataclass(frozen=True)
class IdentitySettings:
    access_token_ttl: timedelta
    refresh_token_ttl: timedelta
    login_max_failures: int
    throttle_window: timedelta
    password_hash_concurrency: int
    password_hash_queue: int
    password_hash_wait_seconds: float
    verify_token_ttl: timedelta = timedelta(hours=48)
    reset_token_ttl: timedelta = timedelta(hours=2)
    first_password_ttl: timedelta = timedelta(days=7)

    @classmethod
    def from_env(cls) -> "IdentitySettings":
        cores = os.cpu_count() or 1
        return cls(
            access_token_ttl=timedelta(seconds=int(config.env("ACCESS_TOKEN_TTL_SECONDS", "900"))),
            refresh_token_ttl=timedelta(days=int(config.env("REFRESH_TOKEN_TTL_DAYS", "30"))),
            login_max_failures=int(config.env("LOGIN_MAX_FAILURES", "5")),
            throttle_window=timedelta(minutes=15),
            password_hash_concurrency=int(config.env("PASSWORD_HASH_CONCURRENCY", str(cores))),
            password_hash_queue=int(config.env("PASSWORD_HASH_QUEUE", str(4 * cores))),
            password_hash_wait_seconds=float(config.env("PASSWORD_HASH_WAIT_SECONDS", "2")),
        )


@functools.cache
def settings() -> IdentitySettings:
    return IdentitySettings.from_env()
