"""skills: the full recompute over 1,000,000 attempts, and the ten views of an
organization of 100,000 learners and 200 skills through the gateway.

    python -m bench.run skills            # both
    BENCH_SKILLS=recompute python -m bench.run skills
    BENCH_SKILLS=views python -m bench.run skills

1. Recompute (target ≤ 30 s for 1,000,000 attempts): a fresh skills database
   with a 200-skill taxonomy (400 courses, 1-3 skills each), 1,000,000 attempts
   of 50,000 learners in 20 organizations and a difficulty snapshot, COPYed in;
   then `recompute` (read every attempt, replay every learner-skill with the
   vectorised engine, rewrite learner_skills and every aggregate), timed by
   phase, next to the same replay as a plain-Python loop of `rating.update`
   (the baseline: the same matches, the same order, the same arithmetic).
2. Views (target: sequential p50 < 50 ms through the gateway): the whole suite;
   an organization of 100,000 learners holding 20 of the 200 skills each
   (2,000,000 learner-skill rows; aggregates rebuilt from them), 100,000
   people, a 10,000-member program, 20 peer organizations and 12 monthly
   snapshots; each view's first page sequentially (one keep-alive client),
   interleaved round-robin with the same-run baseline: a bare nameko HTTP
   entrypoint making one RPC to an echo service (bench.bare)."""
import io
import os
import random
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import numpy as np
import requests
from sqlalchemy import create_engine, text

from bench.harness import (
    admin_session,
    cpu_seconds,
    nameko_processes,
    running_suite,
    wait_http,
    wait_until_quiet,
)

ATTEMPTS = int(os.environ.get("BENCH_SKILLS_ATTEMPTS", "1000000"))
LEARNERS = int(os.environ.get("BENCH_SKILLS_LEARNERS", "100000"))
SKILLS_PER_LEARNER = 20
SAMPLES = int(os.environ.get("BENCH_SKILLS_SAMPLES", "200"))
RECOMPUTE_TARGET_S = 30.0
P50_TARGET_MS = 50.0
VIEWS = ("distribution", "hours-to-mastery", "mastery-over-time", "leaderboard", "assessments", "hours",
         "relevant-courses", "glossary", "benchmark", "benchmark-over-time")


def bench_taxonomy(rng: random.Random) -> dict:
    domains = ["Business", "Technology", "Data Science", "Computer Science"]
    skills = [{"id": f"skill-{i:03d}", "name": f"Skill {i:03d}", "domain": domains[i % 4],
               "definition": f"Skill number {i}.", "sub_skills": [f"sub {i}a", f"sub {i}b"]} for i in range(200)]
    courses = []
    for c in range(400):
        tags = rng.sample(range(200), rng.randrange(1, 4))
        courses.append({"id": f"course-{c:03d}", "name": f"Course {c:03d}", "skills": [
            {"skill_id": f"skill-{t:03d}", "relevance": round(rng.uniform(0.3, 1.0), 2),
             "level": rng.choice(["BEGINNER", "INTERMEDIATE", "ADVANCED"])} for t in tags]})
    return {"domains": [{"name": d} for d in domains], "skills": skills, "courses": courses}


def copy_rows(engine, table: str, columns: str, lines) -> None:
    buffer = io.StringIO("".join(lines))
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT text)", buffer)
        raw.commit()
    finally:
        raw.close()


# ---------------------------------------------------------------- 1. recompute


def plain_python_replay(matches: dict, tau: float) -> float:
    """The baseline: the same replay, one `rating.update` per match in a Python loop."""
    from services.skills.rating import Match, Rating, update

    order = np.lexsort((matches["order"], matches["ls_group"]))
    group, opp_r, opp_d = matches["ls_group"][order], matches["opp_rating"][order], matches["opp_deviation"][order]
    score, weight = matches["fraction"][order], matches["weight"][order]
    began = time.perf_counter()
    states: dict = {}
    for g, r, d, s, w in zip(group.tolist(), opp_r.tolist(), opp_d.tolist(), score.tolist(), weight.tolist(),
                             strict=True):
        states[g] = update(states.get(g) or Rating(), [Match(Rating(r, d), s, w)], tau)
    return time.perf_counter() - began


def bench_recompute() -> dict:
    from servicekit import config
    from servicekit.migrations import drop_database, migrate
    from servicekit.standalone import unit_of_work
    from services.skills.commands import recompute, taxonomy
    from services.skills.settings import SkillsSettings

    keep = os.environ.get("BENCH_SKILLS_PREFIX")  # a prefix of your own keeps the database for inspection
    prefix = keep or f"benchsk{uuid.uuid4().hex[:6]}_"
    previous = os.environ.get("DATABASE_PREFIX")
    os.environ["DATABASE_PREFIX"] = prefix
    try:
        migrate("skills")
        url = config.database_url("skills")
        rng = random.Random(1)
        tax = bench_taxonomy(rng)
        with unit_of_work("skills", url) as uow:
            taxonomy.load_taxonomy(uow, tax)
        engine = create_engine(url)
        learners_n = 50_000
        orgs = [str(uuid.uuid4()) for _ in range(20)]
        start = datetime(2026, 1, 1, tzinfo=UTC)
        np_rng = np.random.default_rng(1)
        learner = np_rng.integers(0, learners_n, ATTEMPTS)
        home = np_rng.integers(0, 400, learners_n)  # each learner studies 4 neighbouring courses
        course = (home[learner] + np_rng.integers(0, 4, ATTEMPTS)) % 400
        item = np_rng.integers(0, 10, ATTEMPTS)
        minutes = np_rng.integers(0, 300 * 24 * 60, ATTEMPTS)
        score = np_rng.integers(0, 11, ATTEMPTS) / 10
        stamps = [(start + timedelta(minutes=m)).isoformat() for m in range(300 * 24 * 60)]
        lines = (f"s{i}\t{orgs[u % 20]}\tu{u}\tcourse-{c:03d}\tcourse-{c:03d}-i{k}\t{f}\t{stamps[m]}\n"
                 for i, (u, c, k, f, m) in enumerate(zip(learner.tolist(), course.tolist(), item.tolist(),
                                                         score.tolist(), minutes.tolist(), strict=True)))
        began = time.perf_counter()
        copy_rows(engine, "attempts", "statement_id, org_id, user_id, course_id, item_id, fraction, attempted_at",
                  lines)
        copy_rows(engine, "assessments", "item_id, rating, deviation, volatility, calibrated_at",
                  (f"course-{c:03d}-i{k}\t{rng.gauss(1500, 200)}\t{rng.uniform(40, 120)}\t0.06\t{start.isoformat()}\n"
                   for c in range(400) for k in range(10)))
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
            # no parallel workers: their CPU would escape the accounting below (2 cores: they gain little)
            name = url.rsplit("/", 1)[1]
            conn.execute(text(f'ALTER DATABASE "{name}" SET max_parallel_workers_per_gather = 0'))
            conn.execute(text(f'ALTER DATABASE "{name}" SET max_parallel_maintenance_workers = 0'))
        print(f"  seeded {ATTEMPTS:,} attempts in {time.perf_counter() - began:.1f} s", flush=True)
        settings = SkillsSettings.from_env({})
        with unit_of_work("skills", url) as uow:
            backend = uow.session.execute(text("SELECT pg_backend_pid()")).scalar()
            cpu_before, own_before = cpu_seconds([backend]).get(backend, 0.0), time.process_time()
            result = recompute.recompute(uow, settings)
            cpu_db = cpu_seconds([backend]).get(backend, 0.0) - cpu_before
            cpu_own = time.process_time() - own_before
        load_average = os.getloadavg()[0]
        with unit_of_work("skills", url) as uow:
            matches = recompute.load_matches(uow)
        vector_began = time.perf_counter()
        recompute.compute(matches, settings)
        vector_s = time.perf_counter() - vector_began
        plain_s = plain_python_replay(matches, settings.tau)
        engine.dispose()
    finally:
        if not keep:
            drop_database("skills")
        if previous is None:
            os.environ.pop("DATABASE_PREFIX", None)
        else:
            os.environ["DATABASE_PREFIX"] = previous
    total = result["seconds"]["total"]
    print(f"\nrecompute: {result['attempts']:,} attempts = {result['matches']:,} matches, "
          f"{result['learner_skills']:,} learner-skills")
    print(f"  full recompute {total:.1f} s (load {result['seconds']['load']:.1f}, replay "
          f"{result['seconds']['compute']:.1f}, write + aggregates {result['seconds']['write']:.1f})"
          f"  (target ≤ {RECOMPUTE_TARGET_S:.0f} s: {'met' if total <= RECOMPUTE_TARGET_S else 'NOT met'})")
    print(f"  CPU time: this process {cpu_own:.1f} s + its PostgreSQL backend {cpu_db:.1f} s = "
          f"{cpu_own + cpu_db:.1f} s (what the wall time would be on an idle machine; load average "
          f"{load_average:.1f} on {os.cpu_count()} cores during this run)")
    print(f"  replay only: vectorised {vector_s:.2f} s vs plain-Python loop of rating.update {plain_s:.1f} s "
          f"({plain_s / vector_s:.0f}x)\n", flush=True)
    return {"recompute": result, "cpu_s": cpu_own + cpu_db, "vectorised_replay_s": vector_s,
            "plain_python_replay_s": plain_s}


# ---------------------------------------------------------------- 2. views


def seed_views(suite, org_id: str) -> str:
    """The big organization in the suite's skills database; returns its program id."""
    from servicekit.standalone import unit_of_work
    from services.skills.commands import recompute, taxonomy

    url = suite.database_url("skills")
    rng = random.Random(2)
    with unit_of_work("skills", url) as uow:
        taxonomy.load_taxonomy(uow, bench_taxonomy(rng))
        uow.session.execute(text("INSERT INTO orgs (org_id, region, company_size, industry) VALUES "
                                 "(:o, 'EUROPE', '10000+', 'Finance') ON CONFLICT DO NOTHING"), {"o": org_id})
    engine = create_engine(url)
    np_rng = np.random.default_rng(2)
    program_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    began = time.perf_counter()

    def learner_skills():
        for u in range(LEARNERS):
            for s in np_rng.choice(200, SKILLS_PER_LEARNER, replace=False).tolist():
                score = float(np_rng.uniform(20, 480))
                level = "ADVANCED" if score >= 350 else "INTERMEDIATE" if score >= 200 else "BEGINNER"
                order = {"ADVANCED": 1, "INTERMEDIATE": 2, "BEGINNER": 3}[level]
                reached_i = (now - timedelta(days=int(np_rng.integers(0, 365)))).isoformat() if order < 3 else "\\N"
                reached_a = (now - timedelta(days=int(np_rng.integers(0, 365)))).isoformat() if order < 2 else "\\N"
                hours = round(float(np_rng.uniform(0, 40)), 1)
                yield (f"{org_id}\tu{u}\tskill-{s:03d}\t1500\t80\t0.06\t{score}\t{level}\t{order}\t"
                       f"{int(np_rng.integers(1, 30))}\t{reached_i}\t{reached_a}\t{hours}\n")

    copy_rows(engine, "learner_skills", "org_id, user_id, skill_id, rating, deviation, volatility, score, level, "
              "level_order, attempts, intermediate_at, advanced_at, hours", learner_skills())
    copy_rows(engine, "people", "org_id, user_id, full_name, email",
              (f"{org_id}\tu{u}\tLearner {u}\tlearner{u}@big.example\n" for u in range(LEARNERS)))
    copy_rows(engine, "program_members", "program_id, user_id, org_id",
              (f"{program_id}\tu{u}\t{org_id}\n" for u in range(0, LEARNERS, 10)))
    copy_rows(engine, "program_courses", "program_id, course_id, org_id",
              (f"{program_id}\tcourse-{c:03d}\t{org_id}\n" for c in range(0, 400, 2)))
    with unit_of_work("skills", url) as uow:
        recompute.rebuild_aggregates(uow)
        peers = [str(uuid.uuid4()) for _ in range(20)]
        for p, peer in enumerate(peers):
            uow.session.execute(text("INSERT INTO orgs (org_id, region, company_size, industry, synthetic) VALUES "
                                     "(:o, 'EUROPE', :size, 'Finance', true)"),
                                {"o": peer, "size": "10000+" if p % 2 else "5001-10000"})
        uow.session.execute(text(
            "INSERT INTO skill_stats (org_id, skill_id, learners, beginner, intermediate, advanced, score_sum, "
            "attempts, hours_learners, hours_sum) SELECT p, s.id, 100, 30, 40, 30, 100 * (150 + random() * 200), "
            "1000, 100, 900 FROM unnest(CAST(:peers AS uuid[])) p, skills s WHERE s.id LIKE 'skill-%'"),
            {"peers": peers})
        for back in range(12):
            month = (date.today().replace(day=1) - timedelta(days=31 * back)).replace(day=1)
            recompute.snapshot(uow, month)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    print(f"  seeded {LEARNERS:,} learners x {SKILLS_PER_LEARNER} of 200 skills in "
          f"{time.perf_counter() - began:.0f} s", flush=True)
    return program_id


def sequential_p50(targets: dict[str, tuple[str, dict]], samples: int) -> dict[str, float]:
    """Each target `samples` times, round-robin (machine noise weighs on all alike), one keep-alive client."""
    timings: dict[str, list[float]] = {name: [] for name in targets}
    with requests.Session() as session:
        for url, headers in targets.values():  # warm-up
            for _ in range(5):
                session.get(url, headers=headers, timeout=30).raise_for_status()
        for _ in range(samples):
            for name, (url, headers) in targets.items():
                began = time.perf_counter()
                response = session.get(url, headers=headers, timeout=30)
                timings[name].append((time.perf_counter() - began) * 1000)
                response.raise_for_status()
    return {name: statistics.median(values) for name, values in timings.items()}


def bench_views() -> dict:
    with running_suite() as suite:
        headers, org_id = admin_session(suite)
        seed_views(suite, org_id)
        with nameko_processes(suite, "bench.bare:EchoService", "bench.bare:HttpRpcEcho") as urls:
            echo = urls["bench.bare:HttpRpcEcho"] + "/echo"
            wait_http(echo)
            wait_until_quiet()
            base = f"{suite.base_url}/v1/orgs/{org_id}/skills"
            targets = {view: (f"{base}/{view}", headers) for view in VIEWS}
            targets["bare HTTP→RPC echo"] = (echo, {})
            p50 = sequential_p50(targets, SAMPLES)
    print(f"\nskills views, org of {LEARNERS:,} learners x 200 skills, sequential p50 of the first page "
          f"({SAMPLES} samples each, interleaved)")
    for name, value in p50.items():
        verdict = "" if name not in VIEWS else f"  (target < {P50_TARGET_MS:.0f} ms: " \
                                                f"{'met' if value < P50_TARGET_MS else 'NOT met'})"
        print(f"  {name:<22} {value:7.2f} ms{verdict}")
    print(flush=True)
    return p50


def main() -> dict:
    which = os.environ.get("BENCH_SKILLS", "recompute,views").split(",")
    out = {}
    if "recompute" in which:
        out["recompute"] = bench_recompute()
    if "views" in which:
        out["views"] = bench_views()
    return out


if __name__ == "__main__":
    main()
