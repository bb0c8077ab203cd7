"""Operator commands for a service's event plumbing.

    python -m servicekit.ops <service> parked            # parked events with their errors
    python -m servicekit.ops <service> failing           # events still being retried
    python -m servicekit.ops <service> replay [ID]       # republish parked events (all, or one)
    python -m servicekit.ops <service> outbox            # unpublished outbox rows
"""
import argparse
import json

from sqlalchemy import text

from servicekit import config
from servicekit.db import make_engine
from servicekit.events import list_failed, replay_parked


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m servicekit.ops")
    parser.add_argument("service", choices=config.service_names())
    parser.add_argument("action", choices=["parked", "failing", "replay", "outbox"])
    parser.add_argument("id", nargs="?", type=int)
    args = parser.parse_args(argv)
    engine = make_engine(args.service, pool_size=1)
    if args.action in ("parked", "failing"):
        rows = list_failed(engine, "PARKED" if args.action == "parked" else "RETRYING")
        print(json.dumps(rows, default=str, indent=2))
    elif args.action == "replay":
        print(f"replayed {replay_parked(engine, config.broker_url(), args.id)} event(s)")
    else:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, event_type, created_at, attempts, last_error FROM kit_outbox "
                    "WHERE published_at IS NULL ORDER BY id LIMIT 100"
                )
            )
            print(json.dumps([dict(r._mapping) for r in rows], default=str, indent=2))


if __name__ == "__main__":
    main()
