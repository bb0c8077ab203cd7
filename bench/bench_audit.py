"""audit: how fast the log appends to its hash chains, verifies them and reads a page.

    python -m bench.run audit

On a fresh audit database of its own (not the running suite), with the
service's own functions (what its event handler does per event, each in its
own transaction):
  1. appends to ONE organization's chain from 1 and from 8 threads (the
     appends of one organization are serialized by the row lock on its head);
  2. appends to 8 organizations from 8 threads (one each: no shared lock);
  3. `verify` of every chain (entries/s);
  4. the first page (50, newest first) of an organization of ENTRIES entries,
     unfiltered, by actor and by action prefix (p50 of SAMPLES)."""
import os
import statistics
import threading
import time
import uuid

from servicekit.migrations import drop_database, migrate
from servicekit.standalone import unit_of_work

ENTRIES = 4000
SAMPLES = 50
THREADS = 8


def events(org_id, n, actor=None):
    from services.audit.tests.support import program_created

    return [program_created(org_id, name=f"P{i}", actor=actor or {"kind": "person", "id": str(uuid.uuid4())})
            for i in range(n)]


def append_all(batches) -> float:
    from services.audit.commands.entries import record_event

    def work(batch):
        with unit_of_work("audit") as uow:
            for event in batch:
                record_event(uow, event)
                uow.commit()

    began = time.perf_counter()
    threads = [threading.Thread(target=work, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began


def main() -> None:
    os.environ.setdefault("DATABASE_PREFIX", f"bench{uuid.uuid4().hex[:6]}_")
    os.environ.setdefault("APP_ENV", "development")
    drop_database("audit")
    migrate("audit")
    try:
        run()
    finally:
        drop_database("audit")


def run() -> None:
    from services.audit import queries
    from services.audit.chain import verify_all
    from services.audit.settings import DEV_CHECKPOINT_SECRET

    one = str(uuid.uuid4())
    n = ENTRIES // 2
    took = append_all([events(one, n)])
    print(f"append, one organization, 1 thread:   {n / took:7.0f} entries/s ({n} in {took:.1f} s)")
    took = append_all([events(one, n // THREADS) for _ in range(THREADS)])
    print(f"append, one organization, {THREADS} threads:  {n / took:7.0f} entries/s (serialized by its head's lock)")
    orgs = [str(uuid.uuid4()) for _ in range(THREADS)]
    per_org = n // THREADS
    took = append_all([events(org, per_org) for org in orgs])
    print(f"append, {THREADS} organizations, {THREADS} threads: {n / took:7.0f} entries/s")
    with unit_of_work("audit") as uow:
        began = time.perf_counter()
        reports = verify_all(uow, DEV_CHECKPOINT_SECRET)
        took = time.perf_counter() - began
    total = sum(r.entries for r in reports)
    assert all(r.ok for r in reports), [r.problems[:3] for r in reports if not r.ok]
    print(f"verify: {total} entries in {len(reports)} chains, {total / took:7.0f} entries/s, all ok")
    actor = {"kind": "person", "id": str(uuid.uuid4())}
    append_all([events(one, 200, actor=actor)])
    for label, filters in (("unfiltered", {}), ("by actor", {"actor": actor["id"]}),
                           ("by action prefix", {"action": "program."})):
        samples = []
        with unit_of_work("audit") as uow:
            for _ in range(SAMPLES):
                began = time.perf_counter()
                page = queries.list_entries(uow, one, {"limit": 50, **filters}, None)
                samples.append(time.perf_counter() - began)
        assert len(page["items"]) == 50
        print(f"first page of {ENTRIES + 200} entries, {label}: p50 {statistics.median(samples) * 1000:.1f} ms")
