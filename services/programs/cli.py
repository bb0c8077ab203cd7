"""programs' command line.

    python -m services.programs.cli load-catalog FILE   # courses and specializations (JSON, see docs/programs.md)
    python -m services.programs.cli load-catalog --demo # the demo catalog shipped in services/programs/catalog/

Loading upserts by id, so a catalog file can be loaded again after edits."""
import argparse
import sys

from contracts.errors import AppError
from servicekit.standalone import unit_of_work
from services.programs.commands import catalog


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.programs.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load-catalog", help="load courses and specializations from a JSON file")
    load.add_argument("file", nargs="?", help="catalog JSON file")
    load.add_argument("--demo", action="store_true", help="load the shipped demo catalog")
    args = parser.parse_args(argv)
    if not args.file and not args.demo:
        parser.error("give a FILE or --demo")
    path = catalog.DEMO_CATALOG if args.demo else args.file
    try:
        with unit_of_work("programs") as uow:
            counts = catalog.load_catalog_file(uow, path)
    except AppError as exc:
        print(f"not loaded: {exc.message}: {exc.details}", file=sys.stderr)
        sys.exit(1)
    print(f"loaded {counts['courses']} courses and {counts['specializations']} specializations from {path}")


if __name__ == "__main__":
    main()
