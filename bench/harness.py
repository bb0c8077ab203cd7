"""Shared pieces of the benchmarks: an isolated running suite, extra nameko
processes in its vhost, a load generator (wrk, else a small Python one) and
the figures table.

    with running_suite() as suite:
        token = login(suite.base_url, *create_admin(suite))
        result = measure("GET /v1/me", suite.base_url + "/v1/me", headers={"Authorization": f"Bearer {token}"})
    print_table("gateway", [result])

Everything is bounded in time and runs on the loopback interface; every
process started here is stopped on the way out."""
import functools
import http.client
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import requests
from sqlalchemy.engine import make_url

from scripts.simulate.platform import wait_http  # noqa: F401 (the benches import it from here)
from tests.support.suite import ROOT, Suite, free_port, stop_processes

DURATION = float(os.environ.get("BENCH_DURATION", "10"))  # seconds measured per target
WARMUP = float(os.environ.get("BENCH_WARMUP", "2"))  # seconds of load before measuring, not counted
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))  # interleaved slices per target (see measure_interleaved)
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "20"))
WRK_THREADS = int(os.environ.get("BENCH_WRK_THREADS", "1"))  # 2 cores: leave the other to the servers
MAX_ERROR_SHARE = 0.01  # more failed requests than this and a measurement is refused
PASSWORD = "correct horse battery staple"


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx/3xx answers, socket errors and timeouts
    tool: str
    others: float = 0.0  # share of the machine's CPU used by processes not of this benchmark meanwhile
    cpu_ms: float | None = None  # CPU time per request of the processes serving the target (Target.serving)

    def ratio(self, other: "Result") -> float:
        return self.rps / other.rps if other.rps else 0.0


# --------------------------------------------------------- the machine ---
# Figures are only comparable on an otherwise idle machine: every measurement
# also reports how much CPU other processes (not this benchmark's children, its
# databases' backends or RabbitMQ) took meanwhile.

TICK = os.sysconf("SC_CLK_TCK")
BUSY_WARNING = 0.10  # others' CPU share above which the figures are flagged
_db_prefixes: set[str] = set()


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(fields[:8])
    return (total - fields[3] - fields[4]) / TICK, total / TICK


def _process_table() -> dict[int, tuple[int, float, str]]:
    """{pid: (parent pid, CPU seconds, command line)} of every process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            name, fields = raw.split(" (", 1)[1].rsplit(")", 1)[0], raw.rsplit(")", 1)[1].split()
            table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK, cmdline or name)
    return table


def pids_matching(*fragments: str) -> list[int]:
    """Processes whose command line contains one of `fragments` (e.g. a database name for its backends)."""
    return [pid for pid, (_ppid, _cpu, cmdline) in _process_table().items()
            if any(fragment in cmdline for fragment in fragments)]


def cpu_seconds(pids) -> dict[int, float]:
    table = _process_table()
    return {pid: table[pid][1] for pid in pids if pid in table}


def _own_cpu() -> float:
    """CPU seconds of this process's descendants, the suite's PostgreSQL backends and RabbitMQ."""
    table = _process_table()
    own = {os.getpid()}
    while True:
        children = {pid for pid, (ppid, _cpu, _cmd) in table.items() if ppid in own} - own
        if not children:
            break
        own |= children
    for pid, (_ppid, _cpu, cmdline) in table.items():
        if "beam.smp" in cmdline or any(f" {prefix}" in cmdline for prefix in _db_prefixes):
            own.add(pid)
    return sum(table[pid][1] for pid in own if pid in table)


class CpuWatch:
    """Share of the machine's CPU that processes other than ours used between start and `others()`."""

    def __init__(self):
        self.busy, self.total = _machine_busy()
        self.own = _own_cpu()

    def others(self) -> float:
        busy, total = _machine_busy()
        elapsed = total - self.total
        return max(0.0, (busy - self.busy) - (_own_cpu() - self.own)) / elapsed if elapsed > 0 else 0.0


def wait_until_quiet(max_wait: float = float(os.environ.get("BENCH_QUIET_WAIT", "60"))) -> float:
    """Wait (bounded) until other processes use under BUSY_WARNING of the machine; returns their last share."""
    deadline = time.monotonic() + max_wait
    while True:
        watch = CpuWatch()
        time.sleep(1)
        share = watch.others()
        if share < BUSY_WARNING or time.monotonic() >= deadline:
            break
        print(f"  machine busy: other processes use {share:.0%} of the CPU; waiting ...", file=sys.stderr, flush=True)
    if share >= BUSY_WARNING:
        print(f"  WARNING: measuring on a busy machine ({share:.0%} CPU used by others); figures will be low",
              file=sys.stderr, flush=True)
    return share


class ProcessCpu:
    """CPU seconds that named groups of processes spend between start and `seconds()`: e.g. {"gateway":
    [pid], "reporting's PostgreSQL backends": lambda: pids_matching(...)}; a group given as a callable is
    looked up again at the end (backends opened meanwhile count from 0; one that ended is not counted)."""

    def __init__(self, groups: dict):
        self.groups = groups
        self.before = {name: cpu_seconds(self._pids(name)) for name in groups}
        self.client = time.process_time()

    def _pids(self, name: str) -> list[int]:
        group = self.groups[name]
        return list(group() if callable(group) else group)

    def seconds(self) -> dict[str, float]:
        """{group: CPU seconds}, and "benchmark client": this process's."""
        spent = {}
        for name in self.groups:
            pids = set(self._pids(name)) | set(self.before[name])
            now = cpu_seconds(pids)
            spent[name] = sum(now[pid] - self.before[name].get(pid, 0.0) for pid in now)
        spent["benchmark client"] = time.process_time() - self.client
        return spent


# ------------------------------------------------------------- memory ---


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    """A process's resident memory (or another /proc/<pid>/status field, e.g. VmHWM, its peak) in kB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class MemorySampler(threading.Thread):
    """Samples a process's resident memory every `interval` seconds until `stop()`: `peak_kb`, and
    `start_kb` (when made). Read VmHWM too (`rss_kb(pid, "VmHWM")`): a peak between samples."""

    def __init__(self, pid: int, interval: float = 0.02):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_kb, self.start_kb, self.running = pid, interval, 0, rss_kb(pid), True

    def run(self):
        while self.running:
            try:
                self.peak_kb = max(self.peak_kb, rss_kb(self.pid))
            except OSError:
                return
            time.sleep(self.interval)

    def stop(self) -> int:
        """Stops sampling; answers the peak in kB."""
        self.running = False
        self.join()
        return self.peak_kb


# ------------------------------------------------------------ the suite ---


@contextmanager
def running_suite():
    """The Procfile's processes against fresh databases and a private vhost (tests.support.suite)."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    suite = Suite(workdir)
    _db_prefixes.add(suite.db_prefix)
    ok = False
    try:
        suite.start()
        yield suite
        ok = True
    finally:
        suite.stop()
        if (ok and not os.environ.get("BENCH_KEEP_LOGS")) or not suite.logs.exists():
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"suite logs kept in {suite.logs} (databases {suite.db_prefix}*, vhost {suite.vhost})",
                  file=sys.stderr)


def create_admin(suite: Suite) -> tuple[str, str]:
    """A fresh organization with an org admin; returns (email, password)."""
    from servicekit.standalone import unit_of_work
    from services.identity.commands.organizations import create_org_with_admin

    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    with unit_of_work("identity", suite.database_url("identity")) as uow:
        create_org_with_admin(uow, f"Bench {uuid.uuid4().hex[:6]}", email, "Bench Admin", PASSWORD)
    return email, PASSWORD


def login(base_url: str, email: str, password: str) -> str:
    """An access token from the gateway."""
    response = requests.post(f"{base_url}/v1/auth/login", json={"email": email, "password": password}, timeout=30)
    response.raise_for_status()
    return response.json()["access_token"]


def admin_session(suite, credentials: tuple[str, str] | None = None) -> tuple[dict, str]:
    """A new organization's admin (or the one of `credentials`, from create_admin), signed in:
    (Authorization headers, org id)."""
    headers = {"Authorization": f"Bearer {login(suite.base_url, *(credentials or create_admin(suite)))}"}
    me = requests.get(f"{suite.base_url}/v1/me", headers=headers, timeout=30).json()
    return headers, me["roles"][0]["org_id"]


def pg_connect(database_url: str):
    """A plain psycopg2 connection (no green threads) to a suite database, for baselines such as COPY."""
    url = make_url(database_url)
    return psycopg2.connect(host=url.host, port=url.port or 5432, user=url.username, dbname=url.database)


def latency_ms(url: str, headers: dict, samples: int = 100, max_seconds: float = 60.0) -> dict:
    """Sequential GETs on one keep-alive connection: `samples` of them, or fewer (at least 5) when they take
    longer than `max_seconds` in all. Answers p50, p99, max (ms), samples and the last JSON body."""
    timings = []
    deadline = time.monotonic() + max_seconds
    with requests.Session() as session:
        for n in range(samples):
            if n >= 5 and time.monotonic() > deadline:
                break
            began = time.perf_counter()
            response = session.get(url, headers=headers, timeout=60)
            timings.append((time.perf_counter() - began) * 1000)
            response.raise_for_status()
    timings.sort()
    return {"p50": statistics.median(timings), "p99": timings[min(len(timings) - 1, int(len(timings) * 0.99))],
            "max": timings[-1], "samples": len(timings),
            "body": response.json() if "json" in response.headers.get("Content-Type", "") else None}


class ServiceUrls(dict):
    """{service: http base url}, and `.pids`: {service: process id}."""

    def __init__(self):
        super().__init__()
        self.pids: dict[str, int] = {}


@contextmanager
def nameko_processes(suite: Suite, *services: str):
    """Run extra nameko services (`module:Class`, each its own process via servicekit.run) in the
    suite's vhost. Yields {service: http base url}; each gets its own WEB_SERVER_ADDRESS port."""
    processes: list[subprocess.Popen] = []
    urls = ServiceUrls()
    try:
        for service in services:
            port = free_port()
            urls[service] = f"http://127.0.0.1:{port}"
            env = dict(suite.env, WEB_SERVER_ADDRESS=f"127.0.0.1:{port}")
            # baselines, not the platform's processes: no broker user of their own, the suite's admin URL
            name = getattr(importlib.import_module(service.partition(":")[0]), service.partition(":")[2]).name
            env[f"{name.upper()}_BROKER_URL"] = suite.env["BROKER_URL"]
            log = open(suite.logs / f"{service.replace(':', '.')}.log", "wb")  # noqa: SIM115 - closed below
            processes.append(subprocess.Popen([sys.executable, "-m", "servicekit.run", service], env=env, cwd=ROOT,
                                              stdout=log, stderr=subprocess.STDOUT))
            log.close()  # the child has its own descriptor
            urls.pids[service] = processes[-1].pid
        yield urls
    finally:
        stop_processes(processes)




# ------------------------------------------------------------------ load ---


@functools.cache
def wrk_path() -> str | None:
    """wrk, installed with apt-get (Debian package `wrk`) if missing and possible."""
    if os.environ.get("BENCH_NO_WRK"):
        return None
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("installing wrk (apt-get install -y wrk) ...", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=300, check=False)
        found = shutil.which("wrk")
    if not found:
        print("wrk unavailable: using the Python load generator (it saturates sooner; compare ratios only)",
              file=sys.stderr)
    return found


def _lua_string(value: str) -> str:
    level = "=" * 4
    if f"]{level}]" in value:
        raise ValueError("value not representable as a Lua long string")
    return f"[{level}[{value}]{level}]"


WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  local hist = {}
  for i = 1, #latency do  -- the distinct latencies (us) and how many requests took each
    local us, n = latency(i)
    hist[i] = string.format("%d:%d", us, n)
  end
  io.write(string.format('BENCH_JSON {"requests": %d, "duration_us": %d, "non2xx": %d, "socket_errors": %d, '
    .. '"hist": "%s"}\\n', summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    table.concat(hist, " ")))
end
"""


def wrk_script(method: str, headers: dict, body: str | None) -> str:
    lines = [f"wrk.method = {_lua_string(method)}"]
    lines += [f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()]  # `[[` opens a string
    if body is not None:
        lines.append(f"wrk.body = {_lua_string(body)}")
    return "\n".join(lines) + "\n" + WRK_DONE


def run_wrk(wrk: str, target: "Target", seconds: float) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(wrk_script(target.method, target.headers, target.body))
    try:
        argv = [wrk, f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
                "--latency", "-s", script.name, target.url]
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    finally:
        os.unlink(script.name)
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            figures = json.loads(line.removeprefix("BENCH_JSON "))
            pairs = (item.split(":") for item in figures.pop("hist").split())
            figures["latency_us"] = Counter({int(us): int(n) for us, n in pairs})
            return figures
    raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stdout}\n{completed.stderr}")


def run_clients(client: Callable[[int], None], join_within: float) -> None:
    """`client(i)` for i in range(CONNECTIONS), each in a thread; waits for them
    (`join_within` seconds at the most for each)."""
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=join_within)


def run_python(target: "Target", seconds: float) -> dict:
    """A keep-alive client per connection, each in a thread, for `seconds`."""
    parts = urlsplit(target.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    payload = target.body.encode() if target.body is not None else None
    latencies: list[list[float]] = [[] for _ in range(CONNECTIONS)]
    errors = [0] * CONNECTIONS
    start = time.monotonic()
    deadline = start + seconds

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        while time.monotonic() < deadline:
            began = time.perf_counter()
            try:
                connection.request(target.method, path, body=payload, headers=target.headers)
                response = connection.getresponse()
                response.read()
                if response.status >= 400:
                    errors[index] += 1
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                continue
            latencies[index].append(time.perf_counter() - began)
        connection.close()

    run_clients(client, seconds + 20)
    elapsed = time.monotonic() - start
    histogram = Counter(int(value * 1e6) for per_client in latencies for value in per_client)
    return {"requests": histogram.total() + sum(errors), "duration_us": int(elapsed * 1e6), "non2xx": sum(errors),
            "socket_errors": 0, "latency_us": histogram}


def percentile_ms(histogram: Counter, p: float) -> float:
    """The p-th percentile of a {microseconds: count} histogram, in milliseconds."""
    rank = histogram.total() * p / 100
    seen = 0
    for us in sorted(histogram):
        seen += histogram[us]
        if seen >= rank:
            return us / 1000
    return 0.0


@dataclass
class Target:
    name: str
    url: str
    method: str = "GET"
    headers: dict = field(default_factory=dict)
    body: str | None = None
    # The processes serving it (called before and after each slice), for CPU time per request.
    serving: Callable[[], list[int]] | None = None


def measure_interleaved(targets: list[Target], *, seconds: float = DURATION, rounds: int = ROUNDS,
                        warmup: float = WARMUP) -> list[Result]:
    """Each target for `seconds` in all, in `rounds` round-robin slices, so that whatever else the machine
    does weighs on all of them alike (their ratios are what to compare)."""
    wrk = wrk_path()
    tool = "wrk" if wrk else "python"

    def run(target: Target, duration: float) -> dict:
        return run_wrk(wrk, target, duration) if wrk else run_python(target, duration)

    if warmup > 0:
        for target in targets:
            run(target, warmup)
    totals = {target.name: {"requests": 0, "duration_us": 0, "errors": 0, "others_s": 0.0, "cpu_s": 0.0,
                             "latency_us": Counter()}
              for target in targets}
    slice_seconds = max(1, round(seconds / rounds))
    for _ in range(rounds):
        for target in targets:
            watch = CpuWatch()
            serving = target.serving() if target.serving else []
            before = cpu_seconds(serving)
            figures = run(target, slice_seconds)
            total = totals[target.name]
            after = cpu_seconds(set(serving) | set(target.serving() if target.serving else []))
            total["cpu_s"] += sum(after[pid] - before.get(pid, 0.0) for pid in after)
            total["others_s"] += watch.others() * figures["duration_us"] / 1e6
            total["requests"] += figures["requests"]
            total["duration_us"] += figures["duration_us"]
            total["errors"] += figures["non2xx"] + figures["socket_errors"]
            total["latency_us"].update(figures["latency_us"])
    results = []
    for target in targets:
        total = totals[target.name]
        elapsed = total["duration_us"] / 1e6
        cpu_s = total["cpu_s"] if target.serving and total["requests"] else None
        result = Result(name=target.name, rps=total["requests"] / elapsed,
                        p50_ms=percentile_ms(total["latency_us"], 50), p99_ms=percentile_ms(total["latency_us"], 99),
                        requests=total["requests"], errors=total["errors"], tool=tool,
                        others=total["others_s"] / elapsed,
                        cpu_ms=None if cpu_s is None else 1000 * cpu_s / total["requests"])
        cpu = f", {result.cpu_ms:.2f} ms CPU/request" if result.cpu_ms is not None else ""
        print(f"  {result.name}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms{cpu}"
              f" ({result.requests} requests, {result.errors} errors, {tool};"
              f" others used {result.others:.0%} of the CPU)", flush=True)
        if result.errors > result.requests * MAX_ERROR_SHARE:
            raise RuntimeError(f"{result.name}: {result.errors} of {result.requests} requests failed;"
                               " the figures are not valid")
        results.append(result)
    return results


def measure(name: str, url: str, *, method: str = "GET", headers: dict | None = None, body: str | None = None,
            seconds: float = DURATION, warmup: float = WARMUP,
            serving: Callable[[], list[int]] | None = None) -> Result:
    """Requests/s, p50 and p99 of `url` under CONNECTIONS concurrent keep-alive connections, in one go."""
    target = Target(name, url, method, dict(headers or {}), body, serving)
    return measure_interleaved([target], seconds=seconds, rounds=1, warmup=warmup)[0]


# ----------------------------------------------------------------- table ---


def print_table(title: str, results: list[Result], ratios: list[tuple[str, Result, Result, float | None]] = ()):
    """The figures, then `a / b` ratios of requests/s (with an optional target)."""
    width = max([len(r.name) for r in results] + [len("target")])
    print(f"\n{title} ({CONNECTIONS} connections, {DURATION:g} s each, {results[0].tool if results else '-'})")
    print(f"{'target':<{width}}  {'req/s':>9}  {'p50 ms':>8}  {'p99 ms':>8}  {'CPU ms/req':>10}  {'errors':>6}"
          f"  {'others':>6}")
    for r in results:
        cpu = f"{r.cpu_ms:.2f}" if r.cpu_ms is not None else "-"
        print(f"{r.name:<{width}}  {r.rps:>9,.0f}  {r.p50_ms:>8.2f}  {r.p99_ms:>8.2f}  {cpu:>10}  {r.errors:>6}"
              f"  {r.others:>6.0%}")
    for label, a, b, target in ratios:
        ratio = a.ratio(b)
        verdict = "" if target is None else (f"  (target ≥ {target:.0%}: {'met' if ratio >= target else 'NOT met'})")
        print(f"{label}: {ratio:.0%}{verdict}")
    if any(r.others >= BUSY_WARNING for r in results):
        print(f"WARNING: other processes used ≥ {BUSY_WARNING:.0%} of the CPU during some measurements ('others');"
              " rerun on an idle machine for figures to quote.")
    if any(r.cpu_ms is not None for r in results):
        print("CPU ms/req: CPU time of the processes serving the target (not RabbitMQ, shared) per request;"
              " it depends much less than req/s on what else the machine does.")
    print(flush=True)
