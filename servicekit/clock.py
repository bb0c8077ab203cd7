"""One clock for every service: timezone-aware UTC (tests may patch `utcnow`)."""
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
