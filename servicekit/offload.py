"""CPU-bound work off the event loop: a bounded gate in front of eventlet's
native thread pool (tpool).

A green thread that computes for seconds (a password hash, a numpy batch, a big
sort) stalls every other green thread of the process: RPCs, event handlers,
heartbeats. `CpuGate.run(fn, *args)` runs `fn` in an OS thread while the
caller's green thread waits cooperatively. numpy and hashing release the GIL;
pure-Python work shares it with the event loop in the interpreter's switch
interval (5 ms), so the loop stays responsive either way.

The gate bounds it: at most `slots` calls at once (more only queue inside the
CPU), at most `queue` callers waiting for a slot, each at most `wait_seconds`
(None: as long as it takes). Beyond that `busy()` is raised at once, so a
flood cannot take every worker of the service. The function must not do
green I/O (no database or broker calls): it runs outside the event loop."""
from __future__ import annotations

from collections.abc import Callable

from eventlet import tpool
from eventlet.semaphore import Semaphore


class CpuGate:
    """A bounded number of calls at once, a bounded queue, a bounded wait."""

    def __init__(self, slots: int, queue: int, wait_seconds: float | None, busy: Callable[[], Exception]):
        self.slots, self.queue, self.wait_seconds, self.busy = slots, queue, wait_seconds, busy
        self._free = Semaphore(slots)
        self._waiting = 0

    def run(self, fn, *args, **kwargs):
        if self._free.locked() and self._waiting >= self.queue:
            raise self.busy()
        self._waiting += 1
        try:
            acquired = self._free.acquire(timeout=self.wait_seconds)
        finally:
            self._waiting -= 1
        if not acquired:
            raise self.busy()
        try:
            return tpool.execute(fn, *args, **kwargs)
        finally:
            self._free.release()
