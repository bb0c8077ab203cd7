"""Wait until a service's database is at the head of its Alembic history.

    python -m servicekit.schema_ready identity [--timeout 600]

The init container of every Kubernetes Deployment (deploy/k8s): a new Pod of a
release starts only once that release's migration Job has migrated its
database, so a rollout waits for its migrations. Exits 1 at the timeout."""
import argparse
import sys
import time

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from servicekit import config
from servicekit.migrations import alembic_config


def at_head(service: str) -> bool:
    """Every head of the history (the service's branch and the kit's) is applied:
    recorded in alembic_version, or below a recorded revision (a dependency)."""
    script = ScriptDirectory.from_config(alembic_config(service))
    engine = create_engine(config.database_url(service), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_heads()
    finally:
        engine.dispose()
    applied = {revision.revision for revision in script.iterate_revisions(current, "base")} if current else set()
    return set(script.get_heads()) <= applied


def wait(service: str, timeout: float, interval: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if at_head(service):
                return True
            reason = "migrations pending"
        except Exception as exc:  # database not reachable yet: keep waiting
            reason = f"database not reachable ({exc.__class__.__name__})"
        if time.monotonic() >= deadline:
            print(f"{service}: schema not at head after {timeout:.0f} s: {reason}", file=sys.stderr)
            return False
        print(f"{service}: waiting, {reason}", file=sys.stderr)
        time.sleep(interval)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m servicekit.schema_ready")
    parser.add_argument("service")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)
    if not wait(args.service, args.timeout):
        return 1
    print(f"{args.service}: schema at head")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
