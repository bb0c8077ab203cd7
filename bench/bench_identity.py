"""identity: what a login costs, and whether a flood of failing logins keeps
the rest of identity answering (issue 10, item 10).

    python -m bench.run identity

1. Login cost, in this process: CPU and wall time of one argon2 verification
   with identity's parameters (argon2id m=19 MiB, t=2, p=1), against the same
   with argon2-cffi's defaults (64 MiB, t=3, p=4; what identity used before):
   the same-run baseline.
2. Through the gateway (a fresh suite): sequential latency of a good login;
   baseline: sequential `GET /v1/me` in the same run.
3. Flood: FLOOD_SIZE logins to unknown emails sent at once (one thread each),
   while one client keeps calling `GET /v1/me` (identity's `get_user`). Its
   latency during the flood against its latency just before (same run), and
   how the flood was answered (401 refused, 503 saturated)."""
import os
import statistics
import threading
import time
import uuid

import requests
from argon2 import PasswordHasher

from bench.harness import CpuWatch, create_admin, login, running_suite, wait_until_quiet
from services.identity import credentials

FLOOD_SIZE = int(os.environ.get("BENCH_FLOOD_SIZE", "60"))
SAMPLES = int(os.environ.get("BENCH_LOGIN_SAMPLES", "20"))


def hash_cost(hasher: PasswordHasher, rounds: int) -> dict:
    stored = hasher.hash("a password of some length")
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(rounds):
        hasher.verify(stored, "a password of some length")
    return {"cpu_ms": (time.process_time() - cpu) * 1000 / rounds,
            "wall_ms": (time.perf_counter() - wall) * 1000 / rounds, "params": stored.split("$")[3]}


def sequential_ms(call, count: int) -> list[float]:
    times = []
    for _ in range(count):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return times


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def flood(base_url: str, me) -> dict:
    statuses: list[int] = []
    me_during: list[float] = []
    me_failed: list[float] = []
    started = threading.Event()
    done = threading.Event()

    def failing_login(_):
        started.wait()
        try:
            answer = requests.post(f"{base_url}/v1/auth/login", timeout=60,
                                   json={"email": f"nobody-{uuid.uuid4().hex[:10]}@example.com",
                                         "password": "not the password"})
            statuses.append(answer.status_code)
        except requests.RequestException:
            statuses.append(0)

    def watch_me():
        started.wait()
        while not done.is_set():
            began = time.perf_counter()
            try:
                me()
                me_during.append((time.perf_counter() - began) * 1000)
            except requests.RequestException:  # e.g. 503 after the gateway's RPC_TIMEOUT
                me_failed.append((time.perf_counter() - began) * 1000)

    threads = [threading.Thread(target=failing_login, args=(i,), daemon=True) for i in range(FLOOD_SIZE)]
    watcher = threading.Thread(target=watch_me, daemon=True)
    for thread in [*threads, watcher]:
        thread.start()
    began = time.perf_counter()
    started.set()
    for thread in threads:
        thread.join(timeout=120)
    flood_seconds = time.perf_counter() - began
    done.set()
    watcher.join(timeout=30)
    return {"statuses": {code: statuses.count(code) for code in sorted(set(statuses))},
            "seconds": flood_seconds, "me_ms": me_during, "me_failed_ms": me_failed}


def main() -> dict:
    print("login cost, one argon2 verification in this process (10 rounds each)")
    ours = hash_cost(credentials._hasher, 10)
    default = hash_cost(PasswordHasher(), 10)
    for name, cost in (("identity (OWASP)", ours), ("argon2-cffi default (before)", default)):
        print(f"  {name:<30} {cost['params']:<18} CPU {cost['cpu_ms']:7.1f} ms   wall {cost['wall_ms']:7.1f} ms")
    print(f"  CPU ratio identity / default: {ours['cpu_ms'] / default['cpu_ms']:.2f}")

    with running_suite() as suite:
        email, password = create_admin(suite)
        token = login(suite.base_url, email, password)
        session = requests.Session()
        auth = {"Authorization": f"Bearer {token}"}

        def me():
            session.get(f"{suite.base_url}/v1/me", headers=auth, timeout=60).raise_for_status()

        def good_login():
            requests.post(f"{suite.base_url}/v1/auth/login", timeout=60,
                          json={"email": email, "password": password}).raise_for_status()

        others = wait_until_quiet()
        sequential_ms(me, 20)  # warm up
        watch = CpuWatch()
        me_alone = sequential_ms(me, 100)
        logins = sequential_ms(good_login, SAMPLES)
        print(f"\nthrough the gateway, sequential (others used {max(others, watch.others()):.0%} of the CPU)")
        print(f"  POST /v1/auth/login (good password)  p50 {statistics.median(logins):7.1f} ms   "
              f"p90 {p(logins, 0.9):7.1f} ms")
        print(f"  GET /v1/me (baseline)                p50 {statistics.median(me_alone):7.1f} ms   "
              f"p90 {p(me_alone, 0.9):7.1f} ms")

        watch = CpuWatch()
        result = flood(suite.base_url, me)
        during = result["me_ms"]
        print(f"\nflood: {FLOOD_SIZE} logins to unknown emails at once (others used {watch.others():.0%} of the CPU)")
        print(f"  answered in {result['seconds']:.2f} s: {result['statuses']} (401 refused, 503 hashing saturated)")
        if during:
            print(f"  GET /v1/me during the flood: {len(during)} answered, p50 {statistics.median(during):.1f} ms, "
                  f"p99 {p(during, 0.99):.1f} ms, max {max(during):.1f} ms")
        failed = result["me_failed_ms"]
        print(f"  GET /v1/me during the flood failed: {len(failed)}"
              + (f" (after {', '.join(f'{ms:.0f}' for ms in failed[:5])} ms)" if failed else ""))
        print(f"  GET /v1/me before the flood (baseline): p50 {statistics.median(me_alone):.1f} ms, "
              f"p99 {p(me_alone, 0.99):.1f} ms, max {max(me_alone):.1f} ms")
    return {"hash": {"ours": ours, "default": default}, "login_ms": logins, "me_ms": me_alone, "flood": result}
