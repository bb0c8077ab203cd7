"""Keep one process of `make run` alive: run a command, and when it exits, log
the exit and start it again after a pause that doubles from 1 s to 30 s (back
to 1 s once it has run for a minute). honcho runs one keepalive per Procfile
line, so one process exiting no longer makes honcho stop the whole suite.

    python -m scripts.keepalive python -m servicekit.run services.identity.service:IdentityService
    python -m scripts.keepalive --procfile Procfile   # prints the Procfile with every line kept alive

SIGTERM or SIGINT (honcho stopping, Ctrl-C) stops the command and the
keepalive, without a restart. The end-to-end tests run the Procfile's
commands directly (they restart processes themselves)."""
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

FIRST_PAUSE_SECONDS = 1.0
MAX_PAUSE_SECONDS = 30.0
STABLE_SECONDS = 60.0  # a run this long resets the pause


def say(message: str) -> None:
    print(f"{datetime.now(UTC).isoformat(timespec='seconds')} keepalive: {message}", file=sys.stderr, flush=True)


def next_pause(pause: float, ran_for: float) -> float:
    if ran_for >= STABLE_SECONDS:
        return FIRST_PAUSE_SECONDS
    return min(MAX_PAUSE_SECONDS, pause * 2)


class KeepAlive:
    def __init__(self, argv: list[str]):
        self.argv = argv
        self.child: subprocess.Popen | None = None
        self.stopping = False

    def stop(self, signum, frame) -> None:
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signum)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        pause = FIRST_PAUSE_SECONDS / 2  # doubled before the first restart
        while not self.stopping:
            started = time.monotonic()
            self.child = subprocess.Popen(self.argv)
            status = self.child.wait()
            if self.stopping:
                return status
            ran_for = time.monotonic() - started
            pause = next_pause(pause, ran_for)
            say(f"{' '.join(self.argv)!r} exited with status {status} after {ran_for:.1f}s; "
                f"starting it again in {pause:.0f}s")
            deadline = time.monotonic() + pause
            while not self.stopping and time.monotonic() < deadline:
                time.sleep(0.2)
        return 0


def supervised_procfile(text: str) -> str:
    lines = []
    for line in text.splitlines():
        name, sep, command = line.partition(":")
        if line.strip() and not line.startswith("#") and sep:
            line = f"{name}: python -m scripts.keepalive {command.strip()}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--procfile"]:
        with open(argv[1]) as procfile:
            sys.stdout.write(supervised_procfile(procfile.read()))
        return 0
    if not argv:
        sys.exit(__doc__)
    return KeepAlive(argv).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
