"""Waiting for what happens asynchronously (an event applied, an email sent)."""
import time


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1, what: str = "the condition"):
    """Call `predicate` until it returns something truthy, and return that;
    AssertionError (naming `what`) after `timeout` seconds. (Under eventlet's
    patching, `time.sleep` yields to other green threads.)"""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        time.sleep(interval)
