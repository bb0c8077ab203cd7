"""messaging's configuration: one typed object, read from the environment when
the service starts (not when a module is imported), so a test or a process
sets the environment first.

The SMTP connection settings (`sender.SmtpSettings`) are the deliberate
exception: the sender reads them at every tick, so a mail server's new
credentials or address are picked up without a restart."""
import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from servicekit import config
from servicekit.entrypoints import committing


@dataclass(frozen=True)
class MessagingSettings:
    send_interval: float = 0.5  # MESSAGING_SEND_INTERVAL: seconds between sender ticks
    purge_interval: float = 3600.0  # MESSAGING_PURGE_INTERVAL_SECONDS
    delivery_retention_days: int = 180  # MESSAGING_DELIVERY_RETENTION_DAYS
    mail_from: str = "learning@platform.example"  # MAIL_FROM: envelope sender and From address
    no_reply: str = "no-reply@platform.example"  # NO_REPLY_ADDRESS: Reply-To when reply-to is off
    public_url: str = "http://127.0.0.1:8000"  # PUBLIC_URL: base of unsubscribe links
    unsubscribe_secret: bytes = b""  # UNSUBSCRIBE_SECRET, else derived from JWT_SECRET
    # Per-organization quotas (defaults; an organization's own values in org_quotas win): see quotas.py.
    messages_per_day: int = 20  # MESSAGING_QUOTA_MESSAGES_PER_DAY: admin messages sent per UTC day
    recipients_per_day: int = 100_000  # MESSAGING_QUOTA_RECIPIENTS_PER_DAY: their recipients plus reminders'
    reminders_per_program_per_day: int = 1  # MESSAGING_QUOTA_REMINDERS_PER_PROGRAM_PER_DAY

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "MessagingSettings":
        env = os.environ if environ is None else environ
        secret = env.get("UNSUBSCRIBE_SECRET")
        return cls(
            send_interval=float(env.get("MESSAGING_SEND_INTERVAL", "0.5")),
            purge_interval=float(env.get("MESSAGING_PURGE_INTERVAL_SECONDS", "3600")),
            delivery_retention_days=int(env.get("MESSAGING_DELIVERY_RETENTION_DAYS", "180")),
            mail_from=env.get("MAIL_FROM", cls.mail_from),
            no_reply=env.get("NO_REPLY_ADDRESS", cls.no_reply),
            public_url=env.get("PUBLIC_URL", cls.public_url).rstrip("/"),
            unsubscribe_secret=secret.encode() if secret else hmac.new(
                config.jwt_secret().encode(), b"messaging-unsubscribe", hashlib.sha256).digest(),
            messages_per_day=int(env.get("MESSAGING_QUOTA_MESSAGES_PER_DAY", "20")),
            recipients_per_day=int(env.get("MESSAGING_QUOTA_RECIPIENTS_PER_DAY", "100000")),
            reminders_per_program_per_day=int(env.get("MESSAGING_QUOTA_REMINDERS_PER_PROGRAM_PER_DAY", "1")),
        )

    def unsubscribe_link(self, token: str) -> str:
        return f"{self.public_url}/v1/unsubscribe/{token}"


def current() -> MessagingSettings:
    """The settings as the environment gives them now: the service reads them
    once when it starts; tests and scripts calling the modules directly get
    them here."""
    return MessagingSettings.from_env()


class Settings(DependencyProvider):
    """`settings = Settings()` on the service: read when the container starts."""

    def setup(self):
        self.settings = current()

    def get_dependency(self, worker_ctx) -> MessagingSettings:
        return self.settings


class SettingsTimer(Timer):
    """A timer whose interval is a setting, read when the container starts."""

    def __init__(self, interval_of: Callable[[MessagingSettings], float], **kwargs):
        self.interval_of = interval_of
        super().__init__(interval=None, **kwargs)

    def setup(self):
        self.interval = self.interval_of(current())


def settings_timer(interval_of: Callable[[MessagingSettings], float]):
    """`@settings_timer(lambda s: s.send_interval)`: servicekit's `timer`
    (commit when the tick returns), its interval a setting."""

    def decorator(fn):
        return SettingsTimer.decorator(interval_of=interval_of)(committing(fn))

    return decorator
