"""Bad input and races at programs' RPC boundary (issue 10): whatever a
caller sends, the answer is a result or an AppError with a stable code,
never an unexpected error."""
import time

import pytest
from nameko.exceptions import RemoteError
from sqlalchemy import create_engine, text

from contracts.errors import AppError
from servicekit import config
from services.programs.tests.support import setup_program


def outcome(call):
    try:
        call.result()
        return "ok"
    except AppError as exc:
        return exc.code
    except RemoteError as exc:  # an unexpected error in the service (a 500 at the gateway)
        return f"unexpected {exc.exc_type}"


def wait_for_lock_waiters(conn, count: int, timeout: float = 20.0) -> None:
    """Until `count` sessions of the programs database wait on a lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = :db "
                                    "AND wait_event_type = 'Lock'"), {"db": config.database_name("programs")}).scalar()
        conn.rollback()  # pg_stat_activity is a snapshot per transaction
        if waiting >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} calls came to wait on the program's lock")


def test_collection_changes_racing_its_deletion_are_not_found(programs):
    """The deletion is first in line for the program's lock; changes of the
    collection read it, then queue behind the deletion; they find it gone."""
    org_id, _, program = setup_program(programs)
    collection = programs.create_collection(org_id, program["id"], {"name": "Doomed"})
    changes = [{"name": "Renamed"}, {"position": 1}, {"description": "later"}, {"item_ids": []}]
    engine = create_engine(config.database_url("programs"))
    try:
        with engine.connect() as holder, engine.connect() as watcher:
            holder.execute(text("SELECT id FROM programs WHERE id = :id FOR UPDATE"), {"id": program["id"]})
            deletion = programs.delete_collection.call_async(org_id, collection["id"])
            wait_for_lock_waiters(watcher, 1)
            racing = [programs.update_collection.call_async(org_id, collection["id"], change) for change in changes]
            racing.append(programs.add_collection_items.call_async(org_id, collection["id"], [], []))
            racing.append(programs.remove_collection_item.call_async(org_id, collection["id"], "no-such-item"))
            wait_for_lock_waiters(watcher, 1 + len(racing))
            holder.rollback()  # the deletion takes the lock first, then the others
            assert outcome(deletion) == "ok"
            assert [outcome(call) for call in racing] == ["NOT_FOUND"] * len(racing)
    finally:
        engine.dispose()
    with pytest.raises(AppError) as gone:
        programs.update_collection(org_id, collection["id"], {"name": "Late"})
    assert gone.value.code == "NOT_FOUND"
