"""A calibration (a new difficulty snapshot, then a full recompute) is long and
CPU-bound: it runs its CPU work in a native thread (servicekit.offload), so
the replica running it keeps answering other RPCs. Measured on a real skills
container with 600,000 stored attempts (smaller, the stalls of the old code
were too short to tell apart from a loaded machine's noise)."""
import io
import random
import time
import uuid

import eventlet
import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook
from sqlalchemy import text

from servicekit.standalone import unit_of_work
from services.skills.commands import recompute

ATTEMPTS = 600_000
LEARNERS = 40_000


def seed_attempts(org_id: str) -> None:
    rng = random.Random(3)
    lines = io.StringIO()
    for i in range(ATTEMPTS):
        course = rng.choice(("t-c1", "t-c2", "t-c3"))
        lines.write(f"off-{org_id}-{i}\t{org_id}\tu{rng.randrange(LEARNERS)}\t{course}\toff-{course}-i{rng.randrange(30)}"
                    f"\t{rng.randrange(11) / 10}\t2026-05-{1 + i % 28:02d} {i % 24:02d}:00:00+00\n")
    lines.seek(0)
    with unit_of_work("skills") as uow:
        recompute.copy_in(uow, "COPY attempts (statement_id, org_id, user_id, course_id, item_id, fraction, "
                               "attempted_at) FROM STDIN", lines)


def forget(org_id: str) -> None:
    """The seeded organization out again: later tests' recomputes stay small."""
    with unit_of_work("skills") as uow:
        for table in ("attempts", "learner_skills", "skill_stats", "hours_histogram", "mastery_days", "learners"):
            uow.session.execute(text(f"DELETE FROM {table} WHERE org_id = :o"), {"o": org_id})
        uow.session.execute(text("DELETE FROM assessments WHERE item_id LIKE 'off-%'"))


@pytest.fixture
def big_org(loaded):
    org_id = str(uuid.uuid4())
    seed_attempts(org_id)
    yield org_id
    forget(org_id)


def test_other_rpcs_answer_while_a_calibration_runs(container_factory, rabbit_config, big_org, monkeypatch):
    from services.skills.service import SkillsService

    monkeypatch.setenv("SKILLS_CALIBRATION_INTERVAL_HOURS", "0")  # due now
    container = container_factory(SkillsService, {**rabbit_config, "max_workers": 4})
    container.start()

    def calibrate():
        began = time.perf_counter()
        with entrypoint_hook(container, "calibrate_when_due", timeout=600) as run:  # long on a loaded machine
            run()
        return time.perf_counter() - began

    latencies = []
    with ServiceRpcProxy("skills", rabbit_config) as skills:
        skills.glossary(big_org, {"limit": 5})  # warm: connections, queues
        calibration = eventlet.spawn(calibrate)
        eventlet.sleep(0.05)
        while not calibration.dead:
            began = time.perf_counter()
            assert len(skills.glossary(big_org, {"limit": 5})["items"]) == 5
            latencies.append(time.perf_counter() - began)
            eventlet.sleep(0.02)
        took = calibration.wait()
    with unit_of_work("skills") as uow:
        matches = uow.session.execute(text("SELECT attempts FROM calibrations ORDER BY id DESC LIMIT 1")).scalar()
        rated = uow.session.execute(text("SELECT count(*) FROM learner_skills WHERE org_id = :o AND level IS NOT NULL"),
                                    {"o": big_org}).scalar()
    assert matches >= ATTEMPTS and rated > LEARNERS  # it calibrated with the seeded attempts and recomputed
    # The calibration was long enough for the probe to mean something, and the
    # replica answered all along. The bound is a share of the calibration's own
    # time, so that it holds on a loaded machine: with the CPU work on the event
    # loop one phase stalls the replica for about a quarter of the calibration
    # (4.8 s of 17.8 s here); off it the slowest answer took 3-7 % of it (0.4 s of
    # 9.7 s at load 9, 1.3 s of 21.9 s at load 20: the worker still shares the GIL).
    assert took > 2.0, took
    assert len(latencies) >= 20, (took, len(latencies))
    assert max(latencies) < max(0.5, 0.12 * took), (took, sorted(latencies)[-5:])
