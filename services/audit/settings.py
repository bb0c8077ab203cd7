"""audit's configuration, read once when the service (or its command) starts."""
from dataclasses import dataclass

from servicekit.config import Settings, secret_setting, setting

DEV_CHECKPOINT_SECRET = "dev-only-audit-checkpoint-secret-0123456789"


def _retention_days(raw: str) -> int | None:
    """A number of days (at least 1), or 0 / empty for "keep forever"."""
    days = int(raw) if raw.strip() else 0
    if days < 0:
        raise ValueError("must be 0 (keep forever) or a number of days")
    return days or None


@dataclass(frozen=True)
class AuditSettings(Settings):
    # Entries older than this many days are purged (a signed checkpoint stays at the cut); 0 keeps them forever.
    retention_days: int | None = setting("AUDIT_RETENTION_DAYS", 365, parse=_retention_days)
    purge_interval: float = setting("AUDIT_PURGE_INTERVAL_SECONDS", 3600.0)
    # Signs the retention checkpoints (HMAC-SHA256): required outside development mode, like UNSUBSCRIBE_SECRET.
    checkpoint_key: str = secret_setting("AUDIT_CHECKPOINT_SECRET", DEV_CHECKPOINT_SECRET)
    export_max_rows: int = setting("AUDIT_EXPORT_MAX_ROWS", 100_000)
