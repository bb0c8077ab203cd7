"""messaging's configuration: one typed object (the kit's `Settings`), read
from the environment when the service starts (not when a module is
imported), so a test or a process sets the environment first.

The SMTP connection settings (`sender.SmtpSettings`) are the deliberate
exception: the sender reads them at every tick, so a mail server's new
credentials or address are picked up without a restart."""
from collections.abc import Callable
from dataclasses import dataclass

from servicekit.config import Settings, public_url_setting, secret_setting, setting
from servicekit.entrypoints import settings_timer as timer_of_settings

DEV_UNSUBSCRIBE_SECRET = "dev-only-unsubscribe-secret-0123456789abcdef"


@dataclass(frozen=True)
class MessagingSettings(Settings):
    send_interval: float = setting("MESSAGING_SEND_INTERVAL", 0.5)  # seconds between sender ticks
    purge_interval: float = setting("MESSAGING_PURGE_INTERVAL_SECONDS", 3600.0)
    delivery_retention_days: int = setting("MESSAGING_DELIVERY_RETENTION_DAYS", 180)
    mail_from: str = setting("MAIL_FROM", "learning@platform.example")  # envelope sender and From address
    no_reply: str = setting("NO_REPLY_ADDRESS", "no-reply@platform.example")  # Reply-To when reply-to is off
    public_url: str = public_url_setting()  # base of unsubscribe links
    # Signs unsubscribe links; its own key (not JWT_SECRET): required outside development mode.
    unsubscribe_key: bytes = secret_setting("UNSUBSCRIBE_SECRET", DEV_UNSUBSCRIBE_SECRET)
    # Per-organization quotas (defaults; an organization's own values in org_quotas win): see commands/quotas.py.
    messages_per_day: int = setting("MESSAGING_QUOTA_MESSAGES_PER_DAY", 20)  # admin messages sent per UTC day
    recipients_per_day: int = setting("MESSAGING_QUOTA_RECIPIENTS_PER_DAY", 100_000)  # theirs plus reminders'
    reminders_per_program_per_day: int = setting("MESSAGING_QUOTA_REMINDERS_PER_PROGRAM_PER_DAY", 1)

    def unsubscribe_link(self, token: str) -> str:
        return f"{self.public_url}/v1/unsubscribe/{token}"


def settings_timer(interval_of: Callable[[MessagingSettings], float]):
    """`@settings_timer(lambda s: s.send_interval)`: the kit's timer, its interval one of these settings."""
    return timer_of_settings(MessagingSettings, interval_of)
