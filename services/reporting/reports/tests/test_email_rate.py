"""The "email me the report" rate limit (delivery.check_email_rate) on the real database:
per organization and clock hour, every admin and replica counted together."""
from datetime import UTC, datetime, timedelta

import pytest

from contracts.errors import AppError
from servicekit.standalone import unit_of_work
from services.reporting.reports import delivery
from services.reporting.reports.tests.conftest import new_id

NOON = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def ask(org_id: str, at: datetime, limit: int = 3) -> str:
    try:
        with unit_of_work("reporting") as uow:
            delivery.check_email_rate(uow, org_id, limit, at)
        return "ok"
    except AppError as refused:
        assert refused.code == "TOO_MANY_REQUESTS" and refused.details["quota"] == delivery.EMAIL_QUOTA
        return f"429 after {refused.details['retry_after_seconds']}s"


def test_an_hour_per_organization(service_databases):
    org, other = new_id(), new_id()
    answers = [ask(org, NOON + timedelta(minutes=m)) for m in (0, 10, 20, 35, 59)]
    # the 4th and 5th of the hour are refused until 13:00 (and, refused, they count nothing)
    assert answers == ["ok", "ok", "ok", "429 after 1500s", "429 after 60s"]
    assert ask(other, NOON + timedelta(minutes=30)) == "ok"  # another organization has its own hour
    assert ask(org, NOON + timedelta(hours=1)) == "ok"  # a new hour
    assert ask(org, NOON + timedelta(hours=1, seconds=59.5)) == "ok"


def test_refused_at_the_limit_zero(service_databases):
    with pytest.raises(AppError) as refused, unit_of_work("reporting") as uow:
        delivery.check_email_rate(uow, new_id(), 0, NOON + timedelta(seconds=0.2))
    assert refused.value.details == {"quota": delivery.EMAIL_QUOTA, "limit": 0, "retry_after_seconds": 3600}
