"""Operators: show or set an organization's messaging quotas.

    python -m services.messaging.quotas ORG_ID                          # limits and today's use
    python -m services.messaging.quotas ORG_ID recipients_per_day=250000 messages_per_day=default

Values are integers, or `default` to go back to the service's default
(MESSAGING_QUOTA_* settings; see docs/messaging.md)."""
import json
import sys

from sqlalchemy.orm import sessionmaker

from servicekit.db import UnitOfWork, make_engine
from services.messaging import queries
from services.messaging.commands.quotas import set_quotas
from services.messaging.models import OrgQuota
from services.messaging.settings import MessagingSettings


def parse(assignments: list[str]) -> dict:
    changes = {}
    for assignment in assignments:
        name, _, value = assignment.partition("=")
        if name not in OrgQuota.NAMES or not value:
            raise SystemExit(f"unknown quota {assignment!r}: use {', '.join(OrgQuota.NAMES)} = a number or default")
        changes[name] = None if value == "default" else int(value)
    return changes


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    org_id, changes = argv[0], parse(argv[1:])
    settings = MessagingSettings.from_env()
    engine = make_engine("messaging", pool_size=1)
    uow = UnitOfWork(sessionmaker(engine, expire_on_commit=False), "messaging")
    try:
        if changes:
            set_quotas(uow, settings, org_id, changes)
            uow.commit()
        print(json.dumps(queries.get_quotas(uow, settings, org_id), indent=2))
    finally:
        uow.close()
        engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1:])
