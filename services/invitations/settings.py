"""invitations' configuration: one typed object (the kit's `Settings`), read
from the environment when the service starts (not when a module is
imported); the timers' intervals too."""
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from servicekit.config import Settings, public_url_setting, setting
from servicekit.entrypoints import settings_timer as timer_of_settings


def _days(raw: str) -> timedelta:
    return timedelta(days=int(raw))


@dataclass(frozen=True)
class InvitationSettings(Settings):
    ttl: timedelta = setting("INVITATION_TTL_DAYS", timedelta(days=90), parse=_days)
    import_batch: int = setting("INVITATION_IMPORT_BATCH", 1000)  # rows per committed batch
    import_lease_seconds: int = setting("INVITATION_IMPORT_LEASE_SECONDS", 15)
    identity_chunk: int = setting("INVITATION_IDENTITY_CHUNK", 500)  # rows per identity.ensure_people call
    identity_concurrency: int = setting("INVITATION_IDENTITY_CONCURRENCY", 2)  # those calls in flight at once
    import_poll_seconds: float = setting("INVITATION_IMPORT_POLL_SECONDS", 1.0)
    expiry_interval_seconds: float = setting("INVITATION_EXPIRY_INTERVAL_SECONDS", 60.0)
    public_url: str = public_url_setting()  # base of the accept links
    max_import_attempts: int = 10
    expiry_batch: int = 500

    def accept_url(self, raw_token: str) -> str:
        return f"{self.public_url}/invitations/accept?token={raw_token}"


def settings_timer(interval_of: Callable[[InvitationSettings], float]):
    """`@settings_timer(lambda s: s.expiry_interval_seconds)`: the kit's timer, its interval one of these settings."""
    return timer_of_settings(InvitationSettings, interval_of)
