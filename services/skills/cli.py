"""skills' command line.

    python -m services.skills.cli load-taxonomy FILE    # domains, skills, course tags (JSON, docs/skills.md)
    python -m services.skills.cli load-taxonomy --demo  # the demo taxonomy in services/skills/taxonomy/
    python -m services.skills.cli recompute             # every rating from the stored attempts (after a change)
    python -m services.skills.cli calibrate             # a new difficulty snapshot now, then recompute
    python -m services.skills.cli snapshot [--backfill N]  # this month's benchmark snapshot (and N past months)
"""
import argparse
import json
import sys

from contracts.errors import AppError
from servicekit.standalone import unit_of_work
from services.skills.commands import recompute, taxonomy
from services.skills.settings import SkillsSettings


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.skills.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load-taxonomy", help="load domains, skills and course tags from a JSON file")
    load.add_argument("file", nargs="?")
    load.add_argument("--demo", action="store_true", help="load the shipped demo taxonomy")
    sub.add_parser("recompute", help="recompute every learner-skill and aggregate from the stored attempts")
    sub.add_parser("calibrate", help="calibrate assessment difficulties now, then recompute")
    snap = sub.add_parser("snapshot", help="record this month's benchmark snapshot")
    snap.add_argument("--backfill", type=int, default=0, help="also rebuild the N past months from attempts")
    args = parser.parse_args(argv)
    settings = SkillsSettings.from_env()
    try:
        with unit_of_work("skills") as uow:
            if args.command == "load-taxonomy":
                if not args.file and not args.demo:
                    parser.error("give a FILE or --demo")
                path = taxonomy.DEMO_TAXONOMY if args.demo else args.file
                counts = taxonomy.load_taxonomy_file(uow, path)
                print(f"loaded {counts['domains']} domains, {counts['skills']} skills, {counts['courses']} courses "
                      f"and {counts['specializations']} specializations from {path}")
            elif args.command == "recompute":
                print(json.dumps(recompute.recompute(uow, settings)))
            elif args.command == "calibrate":
                print(json.dumps(recompute.calibrate(uow, settings, force=True)))
            else:
                written = recompute.backfill_snapshots(uow, settings, args.backfill) if args.backfill else 0
                print(f"snapshot: {recompute.snapshot(uow)} rows this month, {written} rows of past months")
    except AppError as exc:
        print(f"not done: {exc.message}: {exc.details}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
