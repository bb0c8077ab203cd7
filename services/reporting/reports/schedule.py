"""When an organization's scheduled reports are due (org setting
`report_schedule`, contracts.identity.ReportScheduleSchema), in its time zone.

A schedule names local calendar days (every day, one weekday, one day of the
month) and an hour. Each such day has exactly one due instant: the hour on
that day in the organization's time zone, as zoneinfo resolves it with
fold=0:
  - the hour does not exist that day (clocks jump 02:00 -> 03:00): the
    instant is that of 02:00 at the offset before the jump, i.e. 03:00 local
    time after it; it runs once;
  - the hour happens twice (clocks fall back 02:00 -> 01:00): the first
    01:00; it runs once.
The run's key is the due instant (UTC), one per local day, so neither case
can give two runs (tests/test_reports_schedule.py).

Catching up: only the latest due instant not after now counts; one that came
before the schedule was set does not (`latest_due`). A service down for
three days with a daily schedule sends one run when it is back, not three."""
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.identity import WEEKDAYS

NONE = "NONE"
DAILY, WEEKLY, MONTHLY = "DAILY", "WEEKLY", "MONTHLY"
DEFAULT_REPORTS = ("usage", "membership")
# A monthly schedule looks back this far for its latest due day; weekly and daily less.
LOOKBACK_DAYS = 62


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def is_active(schedule: dict | None) -> bool:
    return bool(schedule) and schedule.get("frequency", NONE) != NONE


def runs_on(schedule: dict, day: date) -> bool:
    frequency = schedule.get("frequency")
    if frequency == DAILY:
        return True
    if frequency == WEEKLY:
        return WEEKDAYS[day.weekday()] == (schedule.get("weekday") or "MONDAY")
    if frequency == MONTHLY:
        return day.day == (schedule.get("day_of_month") or 1)
    return False


def due_on(schedule: dict, day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant of the schedule's hour on this local day (fold=0, see the module docstring)."""
    local = datetime.combine(day, time(hour=int(schedule.get("hour", 6))), tzinfo=tz)
    return local.astimezone(UTC)


def due_between(schedule: dict, tz_name: str | None, after: datetime, until: datetime) -> list[datetime]:
    """Every due instant in (after, until], oldest first."""
    if not is_active(schedule):
        return []
    tz = zone(tz_name)
    day = after.astimezone(tz).date() - timedelta(days=1)
    last = until.astimezone(tz).date() + timedelta(days=1)
    found = []
    while day <= last:
        if runs_on(schedule, day):
            due = due_on(schedule, day, tz)
            if after < due <= until:
                found.append(due)
        day += timedelta(days=1)
    return found


def latest_due(schedule: dict, tz_name: str | None, now: datetime, since: datetime | None) -> datetime | None:
    """The run to do now, if any: the latest due instant not after `now`,
    provided it is after `since` (when the schedule was set)."""
    if not is_active(schedule):
        return None
    after = now - timedelta(days=LOOKBACK_DAYS)
    if since is not None and since > after:
        after = since
    due = due_between(schedule, tz_name, after, now)
    return due[-1] if due else None


def reports_of(schedule: dict) -> list[str]:
    return list(schedule.get("reports") or DEFAULT_REPORTS)
