"""Demo data of the skills service for `make run` (called by scripts/demo.py).

- the demo taxonomy;
- the demo organization's reference-group fields, its program's members and
  courses (what identity's and programs' events carry; written here too so the
  demo does not depend on the order in which processes first start);
- synthetic learners for the demo organization and 14 synthetic peer
  organizations (regions, sizes, industries; no names: peers are only ever
  aggregates) with six months of simulated graded attempts and learning hours:
  each learner has a true ability that grows over the months, each assessment
  a true difficulty, each organization a strength per course; an attempt's
  score is a binomial draw of the logistic model. The demo organization's
  strengths are spread so that its skills land in every benchmark quartile;
- a calibration (difficulty snapshot + recompute) and monthly snapshots.

Deterministic (seeded; statement ids are uuid5 of the seed), so a second run
finds everything there and changes nothing."""
import random
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text

from servicekit.clock import utcnow
from servicekit.standalone import unit_of_work
from services.skills.commands import projections, ratings, recompute, taxonomy
from services.skills.models import Attempt, Org
from services.skills.settings import SkillsSettings

SEED = "skills-demo-v1"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, SEED)
MONTHS = 6
FIRST = ("Ada", "Bo", "Cy", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kai", "Lin", "Max", "Noor", "Oz",
         "Pia", "Quin", "Rae", "Sol", "Tam", "Uma", "Vic", "Wes", "Xia", "Yan", "Zed")
LAST = ("Okafor", "Lindqvist", "Moreau", "Tanaka", "Silva", "Novak", "Haddad", "Kowalski", "Nguyen", "Ferreira")
PEERS = [  # region, company size, industry
    ("NORTH_AMERICA", "1001-5000", "Manufacturing"), ("NORTH_AMERICA", "201-1000", "Manufacturing"),
    ("NORTH_AMERICA", "5001-10000", "Manufacturing"), ("EUROPE", "1001-5000", "Manufacturing"),
    ("EUROPE", "10000+", "Manufacturing"), ("ASIA_PACIFIC", "1001-5000", "Manufacturing"),
    ("NORTH_AMERICA", "1001-5000", "Finance"), ("NORTH_AMERICA", "10000+", "Finance"),
    ("EUROPE", "1001-5000", "Finance"), ("EUROPE", "201-1000", "Technology"),
    ("NORTH_AMERICA", "201-1000", "Technology"), ("LATIN_AMERICA", "1001-5000", "Retail"),
    ("MIDDLE_EAST_AFRICA", "5001-10000", "Energy"), ("ASIA_PACIFIC", "10000+", "Technology"),
]
LEARNERS_PER_ORG = 24
SPREAD = [-150.0, 0.0, 120.0, 260.0]  # the demo organization's strength per course, in turn
DEMO_LEARNERS = 40


def _id(*parts) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


def _attempts(rng: random.Random, org_id: str, user_id: str, courses: list[str], strength: dict, ability: float,
              difficulty: dict, now: datetime) -> list[dict]:
    out = []
    start = now - timedelta(days=30 * MONTHS)
    for course in courses:
        for k in range(rng.randrange(3, 7)):
            when = start + timedelta(minutes=rng.randrange(0, 30 * MONTHS * 24 * 60 - 60))
            grown = ability + 220 * (when - start) / (now - start) + strength.get(course, 0.0)
            item = f"{course}-l01-i{k % 4:03d}"
            p = 1 / (1 + 10 ** (-(grown - difficulty[item]) / 400))
            correct = sum(rng.random() < p for _ in range(10))
            out.append({"statement_id": _id(org_id, user_id, course, k), "org_id": org_id, "user_id": user_id,
                        "course_id": course, "item_id": item, "score": float(correct), "max_score": 10.0,
                        "attempted_at": when})
    return out


def add_demo(org_id: str, org_settings: dict, program_id: str, course_ids: list[str],
             specialization_ids: list[str], database_url: str | None = None) -> dict:
    settings = SkillsSettings.from_env()
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    with unit_of_work("skills", database_url) as uow:
        taxonomy.load_taxonomy_file(uow, taxonomy.DEMO_TAXONOMY)
        projections.apply_org(uow, org_id, org_settings, datetime(2000, 1, 1, tzinfo=UTC))
        projections.curriculum_changed(uow, {"org_id": org_id, "program_id": program_id, "course_ids": course_ids,
                                             "specialization_ids": specialization_ids},
                                       datetime(2000, 1, 1, tzinfo=UTC))
        if uow.session.scalar(select(func.count()).select_from(Attempt).where(Attempt.org_id == org_id)):
            return summary(uow, org_id)
        offered = sorted(uow.session.scalars(text(
            "SELECT DISTINCT course_id FROM program_courses WHERE program_id = :p "
            "AND course_id IN (SELECT course_id FROM course_skills)"), {"p": program_id}))
        rng = random.Random(SEED)
        difficulty = {f"{c}-l01-i{k:03d}": rng.gauss(1500, 180) for c in offered for k in range(4)}
        # the demo organization: strong in some courses, weak in others (every quartile shows)
        spread = SPREAD
        demo_strength = {c: spread[i % 4] + rng.gauss(0, 20) for i, c in enumerate(offered)}
        attempts, hours = [], []
        people = []
        for n in range(DEMO_LEARNERS):
            user_id = _id(org_id, "learner", n)
            people.append({"user_id": user_id, "full_name": f"{FIRST[n % len(FIRST)]} {LAST[n % len(LAST)]}",
                           "email": f"learner{n + 1:02d}@acme.example"})
            picked = rng.sample(offered, k=min(len(offered), rng.randrange(3, 7)))
            attempts += _attempts(rng, org_id, user_id, picked, demo_strength, rng.gauss(1450, 150), difficulty,
                                  now)
            hours += [{"org_id": org_id, "user_id": user_id, "course_id": c, "hours": round(rng.uniform(1, 14), 1),
                       "as_of": now} for c in picked]
            projections.member_joined(uow, {"org_id": org_id, "program_id": program_id, "user_id": user_id})
        projections.remember_people(uow, org_id, people)
        for p, (region, size, industry) in enumerate(PEERS):
            peer = _id("peer", p)
            uow.session.merge(Org(org_id=peer, region=region, company_size=size, industry=industry,
                                  anonymize_leaderboard=True, synthetic=True, as_of=now))
            uow.session.flush()
            strength = {c: rng.gauss(0, 130) for c in offered}
            for n in range(LEARNERS_PER_ORG):
                user_id = _id(peer, "learner", n)
                picked = rng.sample(offered, k=min(len(offered), rng.randrange(3, 7)))
                attempts += _attempts(rng, peer, user_id, picked, strength, rng.gauss(1450, 150), difficulty, now)
                hours += [{"org_id": peer, "user_id": user_id, "course_id": c,
                           "hours": round(rng.uniform(1, 14), 1), "as_of": now} for c in picked]
        ratings.record_attempts(uow, attempts, settings)
        ratings.record_hours(uow, hours)
        recompute.calibrate(uow, settings, force=True)
        recompute.backfill_snapshots(uow, settings, MONTHS)
        recompute.snapshot(uow)
        return summary(uow, org_id)


def summary(uow, org_id: str) -> dict:
    from services.skills import queries

    answer = queries.benchmark(uow, org_id, {}, SkillsSettings.from_env(), 200, None)
    quartiles = sorted({i["quartile"] for i in answer["items"] if i["quartile"]})
    attempts = uow.session.scalar(select(func.count()).select_from(Attempt))
    return {"attempts": attempts, "peers": answer["organizations_in_group"], "quartiles": quartiles,
            "skills": len(answer["items"])}
