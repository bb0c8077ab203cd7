"""invitations' configuration: one typed object, read from the environment
when the service starts (not when a module is imported), so a test or a
process can set the environment first."""
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from servicekit.entrypoints import committing


@dataclass(frozen=True)
class InvitationSettings:
    ttl: timedelta = timedelta(days=90)  # INVITATION_TTL_DAYS
    import_batch: int = 1000  # INVITATION_IMPORT_BATCH: rows per committed batch
    import_lease_seconds: int = 15  # INVITATION_IMPORT_LEASE_SECONDS
    max_import_attempts: int = 10
    expiry_batch: int = 500
    identity_chunk: int = 500  # INVITATION_IDENTITY_CHUNK: rows per identity.ensure_people call
    identity_concurrency: int = 2  # INVITATION_IDENTITY_CONCURRENCY: those calls in flight at once
    import_poll_seconds: float = 1.0  # INVITATION_IMPORT_POLL_SECONDS
    expiry_interval_seconds: float = 60.0  # INVITATION_EXPIRY_INTERVAL_SECONDS
    public_url: str = "http://127.0.0.1:8000"  # PUBLIC_URL: base of the accept links

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "InvitationSettings":
        env = os.environ if environ is None else environ
        return cls(
            ttl=timedelta(days=int(env.get("INVITATION_TTL_DAYS", "90"))),
            import_batch=int(env.get("INVITATION_IMPORT_BATCH", "1000")),
            import_lease_seconds=int(env.get("INVITATION_IMPORT_LEASE_SECONDS", "15")),
            identity_chunk=int(env.get("INVITATION_IDENTITY_CHUNK", "500")),
            identity_concurrency=int(env.get("INVITATION_IDENTITY_CONCURRENCY", "2")),
            import_poll_seconds=float(env.get("INVITATION_IMPORT_POLL_SECONDS", "1")),
            expiry_interval_seconds=float(env.get("INVITATION_EXPIRY_INTERVAL_SECONDS", "60")),
            public_url=env.get("PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/"),
        )

    def accept_url(self, raw_token: str) -> str:
        return f"{self.public_url}/invitations/accept?token={raw_token}"


def current() -> InvitationSettings:
    """The settings as the environment gives them now: the service reads them
    once when it starts; scripts and tests calling the modules directly get
    them here."""
    return InvitationSettings.from_env()


class Settings(DependencyProvider):
    """`settings = Settings()` on the service: read when the container starts."""

    def setup(self):
        self.settings = current()

    def get_dependency(self, worker_ctx) -> InvitationSettings:
        return self.settings


class SettingsTimer(Timer):
    """A timer whose interval is a setting, read when the container starts."""

    def __init__(self, interval_of: Callable[[InvitationSettings], float], **kwargs):
        self.interval_of = interval_of
        super().__init__(interval=None, **kwargs)

    def setup(self):
        self.interval = self.interval_of(current())


def settings_timer(interval_of: Callable[[InvitationSettings], float]):
    """`@settings_timer(lambda s: s.expiry_interval_seconds)`: servicekit's
    `timer` (commit when the tick returns), its interval a setting."""

    def decorator(fn):
        return SettingsTimer.decorator(interval_of=interval_of)(committing(fn))

    return decorator
