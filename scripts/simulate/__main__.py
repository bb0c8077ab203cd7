"""The learning-platform simulator: realistic learner activity sent to the gateway's public HTTP API.

    python -m scripts.simulate                       # the demo organization (make run does this)
    python -m scripts.simulate --seed 7 --days 60    # other activity, another period
    python -m scripts.simulate --dry-run --out var/statements.jsonl   # build, do not send
    python -m scripts.simulate --load 100000 --clients 8              # load mode: as fast as possible
    python -m scripts.simulate --admin admin@peer-1.example --admin admin@peer-2.example   # several orgs

It signs in as the organization's admin (the demo's by default), creates an
API token with scope `activity:write` (revoking the simulator's earlier ones:
a secret is shown once), lists the programs, their members and collections
and the catalog (item and lesson counts), then signs in as each demo learner
(the demo password): an invited learner joins by the program URL (most of
them; the others stay invited, for the funnel), a member enrolls in one to
three items of the program's collections (most members), and every enrolled
learner's activity over the last `--days` days is built (sessions, items
started/completed, graded attempts with retries, course completions; see
generator.py) and sent to POST /v1/activity in batches of 1,000.

Idempotent: the same seed gives the same decisions and statement ids on
every run (ids do not depend on the day), so a rerun's statements come back
as duplicates and joining/enrolling again changes nothing.

Load mode (`--load N`) sends N cheap statements of the organization's
members (fresh ids, or `--seed`-fixed ids with --load-seeded) in batches of
1,000 from `--clients` concurrent clients and prints statements/s."""
import argparse
import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from scripts.simulate import generator, people
from scripts.simulate.generator import Course, Learner
from scripts.simulate.platform import (
    Api,
    ApiError,
    Catalog,
    admin_org,
    batch_bodies,
    fresh_activity_token,
    load_programs,
    send_concurrently,
    send_statements,
    wait_for_gateway,
)

DEFAULT_ADMIN = "admin@acme.example"
DEFAULT_PASSWORD = os.environ.get("DEMO_PASSWORD", "acme-demo-password")
DEFAULT_SEED = "demo-1"


@dataclass
class OrgRun:
    """What one organization's simulation did."""
    org_id: str
    learners: int = 0  # demo learners found in the organization's programs
    joined_now: int = 0
    enrolled_now: int = 0
    enrolled_learners: int = 0
    enrollments: int = 0
    statements: list[dict] = field(default_factory=list)
    skipped: int = 0  # members the simulator cannot sign in as (not demo learners)

    def describe(self) -> str:
        verbs = {}
        for s in self.statements:
            verbs[s["verb"]] = verbs.get(s["verb"], 0) + 1
        return (f"{self.learners} demo learners ({self.joined_now} joined now), {self.enrolled_learners} enrolled "
                f"in {self.enrollments} items ({self.enrolled_now} enrollments now); {len(self.statements):,} "
                f"statements {verbs}; {self.skipped} other members left alone")


def _decides(seed: str, org_id: str, email: str, what: str, share: float) -> bool:
    return generator.learner_rng(seed, org_id, email, what).random() < share


def prepare_org(base_url: str, admin_email: str, password: str, *, learner_password: str, seed: str,
                days: int, period_end: datetime, join_share: float, enroll_share: float,
                learners: list[tuple[str, str, str]] | None = None, settle: float = 0.0,
                log=print) -> tuple[OrgRun, Api, str]:
    """Sign in, find members and enrollments, join and enroll the demo learners as decided by `seed`, and build
    the period's statements. Returns (the run, the admin's Api, the org id)."""
    admin = Api(base_url, patience=settle)
    admin.login(admin_email, password)
    org_id = admin_org(admin)
    domain = admin_email.rsplit("@", 1)[1]
    known = {email for email, _, _ in (learners or people.demo_learners(domain=domain))}
    catalog = Catalog.load(admin)
    programs = load_programs(admin, org_id)
    # right after the demo data is loaded the programs service may still be applying the invitation events
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        found = sum((m.get("email") or "") in known for p in programs for m in p.members)
        if found >= len(known):
            break
        time.sleep(1)
        again = load_programs(admin, org_id)
        if found and sum((m.get("email") or "") in known for p in again for m in p.members) == found:
            break  # stable: the others are not invited to any program
        programs = again
    run = OrgRun(org_id)
    # a learner may be in several programs: one sign-in each, with every program they are in
    by_email: dict[str, list[tuple]] = {}
    for program in programs:
        for member in program.members:
            if (member.get("email") or "") in known:
                by_email.setdefault(member["email"], []).append((program, member))
            elif member.get("state") == "MEMBER":
                run.skipped += 1
    run.learners = len(by_email)
    lock = threading.Lock()
    program_ids = {p.id for p in programs}

    def act(email: str) -> None:
        learner = Api(base_url)
        try:
            learner.login(email, learner_password)
        except ApiError as exc:
            log(f"  {email}: cannot sign in ({exc.status} {exc.code}); left alone")
            return
        joined = enrolled = 0
        user_id = None
        for program, member in by_email[email]:
            user_id = member["user_id"]
            if member["state"] == "INVITED":
                if not _decides(seed, org_id, email, f"join|{program.id}", join_share):
                    continue
                learner.call("POST", f"/v1/programs/{program.slug}/join")
                joined += 1
            if not program.offer or not _decides(seed, org_id, email, f"enroll|{program.id}", enroll_share):
                continue
            rng = generator.learner_rng(seed, org_id, email, f"offer|{program.id}")
            choice = rng.sample(program.offer, min(len(program.offer), rng.choice([1, 1, 2, 2, 3])))
            for offer in choice:
                try:
                    answer = learner.call("POST", "/v1/enrollments", {"program_id": program.id, **offer})
                    enrolled += bool(answer.get("created"))
                except ApiError as exc:  # e.g. the program's enrollment limit: the learner stops there
                    log(f"  {email}: enrolling refused ({exc.status} {exc.code})")
                    break
        enrollments = [e for e in learner.get_all("/v1/me/enrollments")
                       if e["program_id"] in program_ids and not e.get("downgraded_at")]
        courses, seen = [], set()
        for enrollment in enrollments:
            for course in catalog.courses_of(enrollment):
                if course["id"] not in seen:
                    seen.add(course["id"])
                    courses.append(Course.from_catalog(course))
        statements = generator.learner_statements(seed, org_id, Learner(user_id, email), courses, period_end,
                                                  days) if courses and user_id else []
        with lock:
            run.joined_now += joined
            run.enrolled_now += enrolled
            run.enrollments += len(enrollments)
            run.enrolled_learners += bool(enrollments)
            run.statements.extend(statements)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(act, sorted(by_email)))
    run.statements.sort(key=lambda s: (s["timestamp"], s["id"]))
    return run, admin, org_id


def simulate_orgs(base_url: str, admins: list[str], password: str, *, learner_password: str | None = None,
                  seed: str = DEFAULT_SEED, days: int = 90, period_end: datetime | None = None,
                  join_share: float = 0.88, enroll_share: float = 0.85, send: bool = True,
                  retry_for: float = 90.0, settle: float = 0.0, log=print) -> list[dict]:
    """Simulate the activity of each organization whose org admin is in `admins` (all with `password`; their
    learners are people.demo_learners() of the admin's email domain, signed in with `learner_password`).
    This is what skills' peer organizations use. Returns one summary per organization."""
    period_end = period_end or generator.default_period_end()
    results = []
    for admin_email in admins:
        run, admin, org_id = prepare_org(base_url, admin_email, password,
                                         learner_password=learner_password or password, seed=seed, days=days,
                                         period_end=period_end, join_share=join_share,
                                         enroll_share=enroll_share, settle=settle, log=log)
        log(f"{admin_email} (org {org_id}): {run.describe()}")
        summary = {"org_id": org_id, "admin": admin_email, "statements": run.statements, "run": run}
        if send and run.statements:
            token = fresh_activity_token(admin, org_id)
            sent = send_statements(Api(base_url, token), run.statements, retry_for=retry_for, log=log)
            log(f"  sent {len(run.statements):,} statements in {sent.batches} batches, {sent.seconds:.1f} s: "
                f"{sent.accepted:,} accepted, {sent.duplicates:,} duplicates, {len(sent.rejected)} rejected"
                + (f" {dict(sent.codes)}; first: {sent.rejected[0]}" if sent.rejected else ""))
            summary.update(accepted=sent.accepted, duplicates=sent.duplicates, rejected=sent.rejected)
        results.append(summary)
    return results


def load(base_url: str, admin_email: str, password: str, count: int, clients: int, seed: str | None,
         log=print) -> dict:
    """Load mode: `count` statements of the org's members, pre-serialized, then sent as fast as possible."""
    admin = Api(base_url)
    admin.login(admin_email, password)
    org_id = admin_org(admin)
    members = {m["user_id"] for p in load_programs(admin, org_id) for m in p.members if m["state"] == "MEMBER"}
    if not members:
        raise SystemExit("load mode needs members in the organization's programs (run the simulator once first)")
    catalog = Catalog.load(admin)
    courses = [Course.from_catalog(c) for c in catalog.courses.values() if c.get("item_count")]
    token = fresh_activity_token(admin, org_id)
    statements = generator.load_statements(count, [Learner(u) for u in sorted(members)], courses, seed=seed)
    bodies = batch_bodies(statements)
    totals, seconds = send_concurrently(base_url, token, bodies, clients)
    rate = count / seconds if seconds else 0.0
    log(f"load: {count:,} statements of {len(members)} members in {len(bodies)} batches, {clients} clients: "
        f"{seconds:.2f} s, {rate:,.0f} statements/s; {dict(totals)}")
    return {"statements": count, "seconds": seconds, "rate": rate, **totals}


def stay() -> None:
    """Idle until SIGTERM/SIGINT (under `make run` honcho stops everything when one process exits)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("simulator: done; idle until the suite stops", flush=True)
    stop.wait()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.simulate", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    # The gateway's API (PUBLIC_URL is the web console under `make run`).
    parser.add_argument("--base-url", default=os.environ.get("GATEWAY_URL") or "http://"
                        + os.environ.get("WEB_SERVER_ADDRESS", "127.0.0.1:8000"))
    parser.add_argument("--admin", action="append", help=f"org admin email (repeat for several orgs; default "
                        f"{DEFAULT_ADMIN})")
    parser.add_argument("--password", default=DEFAULT_PASSWORD, help="the admins' password (default: demo's)")
    parser.add_argument("--learner-password", default=None, help="the demo learners' password (default: --password)")
    parser.add_argument("--seed", default=DEFAULT_SEED)
    parser.add_argument("--days", type=int, default=90, help="the simulated period, ending now")
    parser.add_argument("--join-share", type=float, default=0.88, help="share of invited demo learners who join")
    parser.add_argument("--enroll-share", type=float, default=0.85, help="share of members who enroll")
    parser.add_argument("--dry-run", action="store_true", help="build the statements, do not send them")
    parser.add_argument("--out", help="write the statements there (JSON lines)")
    parser.add_argument("--load", type=int, metavar="N", help="load mode: N statements as fast as possible")
    parser.add_argument("--clients", type=int, default=8, help="load mode: concurrent clients")
    parser.add_argument("--load-seeded", action="store_true", help="load mode: ids from --seed (a rerun: duplicates)")
    parser.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                        help="wait up to this long for the gateway to be ready")
    parser.add_argument("--stay", action="store_true", help="afterwards, idle until stopped (make run)")
    args = parser.parse_args(argv)
    admins = args.admin or [DEFAULT_ADMIN]
    status = 0
    try:
        if args.wait:
            wait_for_gateway(args.base_url, args.wait)
        if args.load:
            load(args.base_url, admins[0], args.password, args.load, args.clients,
                 args.seed if args.load_seeded else None)
        else:
            results = simulate_orgs(args.base_url, admins, args.password, learner_password=args.learner_password,
                                    seed=args.seed, days=args.days, join_share=args.join_share,
                                    enroll_share=args.enroll_share, send=not args.dry_run, settle=args.wait)
            if args.out:
                with open(args.out, "w") as out:
                    for result in results:
                        for statement in result["statements"]:
                            out.write(json.dumps(statement) + "\n")
            if any(result.get("rejected") for result in results):
                status = 1
    except (ApiError, RuntimeError, OSError) as exc:
        print(f"simulator: {exc}", file=sys.stderr, flush=True)
        status = 1
    if args.stay:
        stay()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
