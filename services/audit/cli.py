"""audit's command line.

    python -m services.audit.cli verify [--org ORG_ID]   # every chain (or one): exit 1 when one is broken
    python -m services.audit.cli purge [--days N]       # the retention purge now (AUDIT_RETENTION_DAYS by default)

Both read AUDIT_CHECKPOINT_SECRET (required outside APP_ENV=development):
verify checks the checkpoints' signatures with it, purge signs them."""
import argparse
import sys

from servicekit.config import ConfigError
from servicekit.models import parse_uuid
from servicekit.standalone import unit_of_work
from services.audit.chain import verify_all
from services.audit.commands import retention
from services.audit.settings import AuditSettings


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.audit.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser("verify", help="verify the hash chains and checkpoints")
    verify.add_argument("--org", help="only this organization's chain")
    purge = sub.add_parser("purge", help="purge entries past retention, leaving signed checkpoints")
    purge.add_argument("--days", type=int, help="retention in days (default: AUDIT_RETENTION_DAYS)")
    args = parser.parse_args(argv)
    try:
        settings = AuditSettings.from_env()
    except ConfigError as exc:
        print(f"audit: {exc}", file=sys.stderr)
        return 2
    if args.command == "verify":
        org = None
        if args.org:
            org = parse_uuid(args.org)
            if org is None:
                parser.error("--org takes an organization id (a UUID)")
        with unit_of_work("audit") as uow:
            reports = verify_all(uow, settings.checkpoint_key, org)
        broken = [r for r in reports if not r.ok]
        for report in reports:
            print(f"{report.org_id}: {report.entries} entries, {'ok' if report.ok else 'BROKEN'}")
            for problem in report.problems:
                print(f"  {problem}")
        print(f"{len(reports)} chain(s), {sum(r.entries for r in reports)} entries, {len(broken)} broken")
        return 1 if broken else 0
    days = args.days if args.days is not None else settings.retention_days
    if not days or days < 1:
        print("retention is off (AUDIT_RETENTION_DAYS=0): nothing purged")
        return 0
    with unit_of_work("audit") as uow:
        purged = retention.purge_expired(uow, days, settings.checkpoint_key)
    print(f"purged {purged} entries older than {days} days (checkpoints signed at each cut)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
