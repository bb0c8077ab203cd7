"""Cooperative I/O. Import and call `patch()` before anything else in a process.

psycopg2 is made eventlet-aware with psycogreen: without it a slow query
blocks every worker of the process (see docs/architecture.md, measured fact)."""
_patched = False


def patch() -> None:
    global _patched
    if _patched:
        return
    import eventlet

    eventlet.monkey_patch()
    from psycogreen.eventlet import patch_psycopg

    patch_psycopg()
    _patched = True
