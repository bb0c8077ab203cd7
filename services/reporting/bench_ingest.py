"""A quick measure of statement ingestion end to end through the gateway (the
reporting owner's check; the benchmark suite proper is bench/, simbench's).

    python -m services.reporting.bench_ingest [--statements 100000] [--clients 4] [--learners 2000]

Starts the whole suite (tests/support/suite.py: fresh databases, private
vhost), makes an organization, an `activity:write` token and `learners`
members (seeded into reporting's projection directly), then posts batches of
1,000 native statements (50 learners × 20 consecutive statements each, gaps
of 1–30 minutes) from `clients` threads, and prints statements/s next to a
PostgreSQL COPY of the same rows into a table shaped like `statements`."""
import argparse
import io
import json
import os
import random
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("APP_ENV", "development")
os.environ.setdefault("DB_POOL_IDLE", "2")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import requests  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

COURSES = [f"bench-course-{i}" for i in range(10)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--statements", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--learners", type=int, default=2000)
    args = parser.parse_args(argv)
    from tests.e2e.conftest import Api, create_org
    from tests.support.suite import Suite

    suite = Suite(Path(tempfile.mkdtemp(prefix="bench-ingest-")), env={"LOG_LEVEL": "WARNING"}).start()
    try:
        api = Api(suite.base_url)
        org_id, admin, _ = create_org(suite, api)
        token = admin.post(f"/v1/orgs/{org_id}/api-tokens", json={"name": "bench", "scopes": ["activity:write"]})
        token = token.json()["token"]
        engine = create_engine(suite.database_url("reporting"))
        learners = [(str(uuid.uuid4()), f"learner{i}@bench.example") for i in range(args.learners)]
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO memberships (program_id, user_id, org_id, state, email, joined_at) "
                "SELECT CAST(:p AS uuid), u, CAST(:o AS uuid), 'MEMBER', e, now() "
                "FROM unnest(CAST(:users AS uuid[]), CAST(:emails AS text[])) AS v(u, e)"),
                {"p": str(uuid.uuid4()), "o": org_id, "users": [u for u, _ in learners],
                 "emails": [e for _, e in learners]})
            for course in COURSES:
                conn.execute(text("INSERT INTO courses (course_id, slug, name, partner, item_count, lesson_count) "
                                  "VALUES (:c, :c, :c, 'Bench U', 40, 8)"), {"c": course})
        batches = make_batches(learners, args.statements)
        print(f"{len(batches)} batches of {len(batches[0])} statements, {args.clients} clients")
        before = {name: cpu_ms(suite.processes[name].pid) for name in ("gateway", "reporting")}
        elapsed, errors = post_all(suite.base_url, token, batches, args.clients)
        used = {name: cpu_ms(suite.processes[name].pid) - ms for name, ms in before.items()}
        total = sum(len(b) for b in batches)
        stored = engine.connect().execute(text("SELECT count(*) FROM statements")).scalar()
        print(f"gateway: {total} statements in {elapsed:.2f} s = {total / elapsed:,.0f} statements/s "
              f"(stored {stored}, failed batches {errors})")
        per_thousand = ", ".join(f"{name} {ms * 1000 / total:.0f} ms" for name, ms in used.items())
        print(f"CPU per 1,000 statements: {per_thousand}; machine load average {os.getloadavg()[0]:.1f}")
        copy_rate = copy_baseline(engine, org_id, batches, learners)
        print(f"baseline COPY of the same rows: {total / copy_rate:,.0f} statements/s ({copy_rate:.2f} s)")
        engine.dispose()
    finally:
        suite.stop()


def cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def make_batches(learners, count: int) -> list[list[dict]]:
    rng = random.Random(13)
    clock = {user: datetime(2026, 3, 1, 8, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 600))
             for user, _ in learners}
    batches = []
    while sum(len(b) for b in batches) < count:
        batch = []
        for user, email in rng.sample(learners, 50):
            course = rng.choice(COURSES)
            for _ in range(20):
                clock[user] += timedelta(minutes=rng.randint(1, 30))
                verb = rng.choice(["started", "completed", "viewed", "graded"])
                item = f"item-{rng.randint(1, 40)}"
                statement = {"id": str(uuid.uuid4()), "actor": {"email": email} if rng.random() < .5 else
                             {"user_id": user}, "verb": verb,
                             "object": {"type": "item", "id": item, "course_id": course,
                                        "lesson_id": f"lesson-{rng.randint(1, 8)}",
                                        "item_type": "quiz" if verb == "graded" else "video"},
                             "timestamp": clock[user].isoformat(timespec="milliseconds").replace("+00:00", "Z")}
                if verb == "graded":
                    statement["result"] = {"score": rng.randint(0, 10), "max_score": 10, "attempt": 1}
                batch.append(statement)
        batches.append(batch)
    return batches


def post_all(base_url: str, token: str, batches, clients: int) -> tuple[float, int]:
    bodies = [json.dumps({"statements": b}).encode() for b in batches]
    pending = list(range(len(bodies)))
    lock = threading.Lock()
    errors = [0]

    def worker():
        session = requests.Session()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        while True:
            with lock:
                if not pending:
                    return
                index = pending.pop()
            for _ in range(5):  # a client retries (idempotent)
                response = session.post(f"{base_url}/v1/activity", data=bodies[index], headers=headers, timeout=60)
                if response.status_code == 200:
                    break
            else:
                with lock:
                    errors[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, errors[0]


def copy_baseline(engine, org_id, batches, learners) -> float:
    ids = {email: user for user, email in learners}
    buffer = io.StringIO()
    for batch in batches:
        for s in batch:
            user = s["actor"].get("user_id") or ids[s["actor"]["email"]]
            result = s.get("result") or {}
            row = [org_id, s["id"], user, s["verb"], "item", s["object"]["id"], s["object"]["course_id"],
                   s["object"]["lesson_id"], s["object"]["item_type"], str(result.get("score", r"\N")),
                   str(result.get("max_score", r"\N")), s["timestamp"], "native"]
            buffer.write("\t".join(row) + "\n")
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("CREATE TEMP TABLE copy_baseline (LIKE statements INCLUDING DEFAULTS INCLUDING INDEXES)")
        buffer.seek(0)
        started = time.perf_counter()
        cursor.copy_expert("COPY copy_baseline (org_id, statement_id, user_id, verb, object_type, item_id, course_id, "
                           "lesson_id, item_type, score, max_score, ts, source) FROM STDIN", buffer)
        raw.commit()
        return time.perf_counter() - started
    finally:
        raw.close()


if __name__ == "__main__":
    main()
