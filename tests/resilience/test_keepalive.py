"""`make run` keeps the suite alive: scripts.keepalive restarts a process that
exits (with a growing pause, and says so) and stops cleanly when told to."""
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts.keepalive import FIRST_PAUSE_SECONDS, MAX_PAUSE_SECONDS, STABLE_SECONDS, next_pause, supervised_procfile
from tests.support.suite import procfile

ROOT = Path(__file__).resolve().parents[2]


def test_an_exiting_process_is_started_again_with_a_growing_pause_and_its_exit_logged(tmp_path):
    runs = tmp_path / "runs"
    command = f"echo run >> {runs}; exit 3"
    keepalive = subprocess.Popen([sys.executable, "-m", "scripts.keepalive", "sh", "-c", command], cwd=ROOT,
                                 stderr=subprocess.PIPE, text=True)
    time.sleep(FIRST_PAUSE_SECONDS + 2 * FIRST_PAUSE_SECONDS + 1)  # pauses of 1 s then 2 s
    keepalive.send_signal(signal.SIGTERM)
    assert keepalive.wait(timeout=10) == 0
    log = keepalive.stderr.read()
    assert runs.read_text().count("run") == 3
    assert log.count("exited with status 3") == 3
    assert "starting it again in 1s" in log and "starting it again in 2s" in log


def test_stopping_stops_the_process_without_a_restart(tmp_path):
    keepalive = subprocess.Popen([sys.executable, "-m", "scripts.keepalive", "sleep", "60"], cwd=ROOT,
                                 stderr=subprocess.PIPE, text=True)
    time.sleep(1)
    started = time.monotonic()
    keepalive.send_signal(signal.SIGINT)
    keepalive.wait(timeout=10)
    assert time.monotonic() - started < 5
    assert "exited" not in keepalive.stderr.read()


def test_pause_doubles_up_to_a_cap_and_resets_after_a_stable_run():
    assert next_pause(1, 0.1) == 2
    assert next_pause(MAX_PAUSE_SECONDS, 0.1) == MAX_PAUSE_SECONDS
    assert next_pause(16, STABLE_SECONDS) == FIRST_PAUSE_SECONDS


def test_make_run_keeps_every_procfile_process_alive():
    wrapped = supervised_procfile((ROOT / "Procfile").read_text())
    lines = dict(line.split(": ", 1) for line in wrapped.splitlines() if line.strip())
    assert lines.keys() == procfile().keys()
    for name, command in procfile().items():
        assert lines[name] == f"python -m scripts.keepalive {command}"
