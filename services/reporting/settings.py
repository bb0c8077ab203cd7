"""reporting's configuration, read once when the service starts (not at import)."""
from dataclasses import dataclass
from datetime import timedelta

from servicekit.config import Settings, setting


@dataclass(frozen=True)
class ReportingSettings(Settings):
    # How often a replica asks programs for catalog entries that statements or
    # enrollments name but the local catalog lacks (any replica may: it is an upsert).
    catalog_refresh_seconds: float = setting("REPORTING_CATALOG_REFRESH_SECONDS", 60.0)
    # A statement's timestamp may be at most this far in the future (clock skew of senders).
    max_future: timedelta = setting("REPORTING_MAX_FUTURE_SECONDS", timedelta(seconds=300))
