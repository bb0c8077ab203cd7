"""Per-organization quotas on the mail an admin can send: admin messages per
day, their recipients (with reminders') per day, reminders per program per
day. Defaults come from the settings; an organization's own values from
`org_quotas` (operators: `python -m services.messaging.quotas`)."""
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert

from servicekit.clock import utcnow
from servicekit.db import UnitOfWork
from services.messaging.models import OrgQuota
from services.messaging.queries import quota_limits
from services.messaging.settings import MessagingSettings

COUNTERS = {"messages_per_day": "messages", "recipients_per_day": "recipients",
            "reminders_per_program_per_day": "reminders:{program_id}"}


def use(uow: UnitOfWork, settings: MessagingSettings, org_id: str, quota: str, amount: int, **counter_args) -> None:
    """Count `amount` against today's quota, or refuse (TOO_MANY_REQUESTS) if it
    does not fit. Atomic: two concurrent calls never both take the last of it;
    a refused or rolled back call counts nothing."""
    if amount <= 0:
        return
    limit = quota_limits(uow, settings, org_id)[quota]
    at = utcnow()
    counter = COUNTERS[quota].format(**counter_args)
    used = uow.session.execute(text(
        "INSERT INTO quota_usage (org_id, day, counter, used) VALUES (:org, :day, :counter, :amount) "
        "ON CONFLICT (org_id, day, counter) DO UPDATE SET used = quota_usage.used + EXCLUDED.used "
        "WHERE quota_usage.used + EXCLUDED.used <= :limit RETURNING used"),
        {"org": org_id, "day": at.date(), "counter": counter, "amount": amount, "limit": limit}).scalar()
    if used is None or used > limit:  # over: nothing was added (or a first use alone is too large)
        before = uow.session.execute(text(
            "SELECT used FROM quota_usage WHERE org_id = :org AND day = :day AND counter = :counter"),
            {"org": org_id, "day": at.date(), "counter": counter}).scalar() or 0
        raise OrgQuota.refusal(quota, limit, before if used is None else 0, amount, at)


def set_quotas(uow: UnitOfWork, settings: MessagingSettings, org_id: str, changes: dict) -> dict[str, int]:
    """Give an organization its own quotas (None: back to the default)."""
    values = {k: changes[k] for k in OrgQuota.NAMES if k in changes}
    stmt = insert(OrgQuota).values(org_id=org_id, **values, updated_at=utcnow())
    uow.session.execute(stmt.on_conflict_do_update(index_elements=[OrgQuota.org_id],
                                                   set_={**values, "updated_at": utcnow()}))
    uow.session.expire_all()  # the ORM's copy of the row, if it had one, is stale
    return quota_limits(uow, settings, org_id)
