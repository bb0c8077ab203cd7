"""Schedule math: due instants in the organization's time zone, DST gaps and overlaps, catch-up."""
from datetime import UTC, datetime, timedelta

from services.reporting.reports import schedule

NY = "America/New_York"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def seen_every_minute(s: dict, day: datetime, since: datetime) -> set[datetime]:
    """The due instants the scheduler finds looking once a minute through the UTC day from `day`, in New York."""
    minutes = (day + timedelta(minutes=m) for m in range(24 * 60))
    return {d for t in minutes if (d := schedule.latest_due(s, NY, t, since)) is not None}


def test_daily_at_an_hour_in_the_org_time_zone():
    s = {"frequency": "DAILY", "hour": 6}
    due = schedule.due_between(s, "Europe/Paris", utc(2026, 12, 1), utc(2026, 12, 3, 23))
    assert due == [utc(2026, 12, 1, 5), utc(2026, 12, 2, 5), utc(2026, 12, 3, 5)]


def test_weekly_on_its_weekday_and_monthly_on_its_day():
    weekly = {"frequency": "WEEKLY", "weekday": "WEDNESDAY", "hour": 9}
    due = schedule.due_between(weekly, "UTC", utc(2026, 12, 1), utc(2026, 12, 31))
    assert due == [utc(2026, 12, d, 9) for d in (2, 9, 16, 23, 30)]
    assert all(d.weekday() == 2 for d in due)
    monthly = {"frequency": "MONTHLY", "day_of_month": 28, "hour": 0}
    due = schedule.due_between(monthly, "Asia/Tokyo", utc(2026, 12, 1), utc(2027, 3, 1))
    assert due == [utc(2026, 12, 27, 15), utc(2027, 1, 27, 15), utc(2027, 2, 27, 15)]


def test_none_or_missing_schedule_is_never_due():
    assert schedule.due_between({"frequency": "NONE", "hour": 6}, "UTC", utc(2026, 1, 1), utc(2027, 1, 1)) == []
    assert schedule.latest_due(None, "UTC", utc(2026, 12, 1), None) is None


def test_a_0200_schedule_on_the_day_0200_does_not_exist_runs_once():
    # 2027-03-14: New York jumps from 02:00 EST to 03:00 EDT
    s = {"frequency": "DAILY", "hour": 2}
    due = schedule.due_between(s, NY, utc(2027, 3, 13), utc(2027, 3, 16))
    assert due == [utc(2027, 3, 13, 7), utc(2027, 3, 14, 7), utc(2027, 3, 15, 6)]
    on_the_day = [d for d in due if d.astimezone(schedule.zone(NY)).date().day == 14]
    assert len(on_the_day) == 1  # 07:00 UTC = 03:00 EDT, right after the jump
    # however often the scheduler looks (every minute), the day has one due instant
    assert seen_every_minute(s, utc(2027, 3, 14, 0), since=utc(2027, 3, 13, 12)) == {utc(2027, 3, 14, 7)}


def test_a_0100_schedule_on_the_day_0100_happens_twice_runs_once():
    # 2027-11-07: New York falls back from 02:00 EDT to 01:00 EST, so 01:00 happens twice
    s = {"frequency": "DAILY", "hour": 1}
    due = schedule.due_between(s, NY, utc(2027, 11, 6, 12), utc(2027, 11, 8, 12))
    assert due == [utc(2027, 11, 7, 5), utc(2027, 11, 8, 6)]  # the first 01:00 (EDT), then 01:00 EST
    # 06:00 UTC, the second 01:00, is not a second run
    assert seen_every_minute(s, utc(2027, 11, 7, 0), since=utc(2027, 11, 6, 12)) == {utc(2027, 11, 7, 5)}


def test_catch_up_is_the_latest_missed_run_only_and_never_before_the_schedule_was_set():
    s = {"frequency": "DAILY", "hour": 6}
    # down from the 1st to the 4th at noon: one run, the 4th's
    assert schedule.latest_due(s, "UTC", utc(2026, 12, 4, 12), utc(2026, 11, 1)) == utc(2026, 12, 4, 6)
    # set at 07:00 on the 4th: the 4th's 06:00 is not owed
    assert schedule.latest_due(s, "UTC", utc(2026, 12, 4, 12), utc(2026, 12, 4, 7)) is None
    assert schedule.latest_due(s, "UTC", utc(2026, 12, 5, 6), utc(2026, 12, 4, 7)) == utc(2026, 12, 5, 6)


def test_unknown_time_zone_falls_back_to_utc():
    s = {"frequency": "DAILY", "hour": 6}
    assert schedule.due_between(s, "Mars/Olympus", utc(2026, 12, 1), utc(2026, 12, 1, 23)) == [utc(2026, 12, 1, 6)]
