"""reporting: activity ingestion, the Usage report and the admin home at scale, each with a same-run baseline.

    python -m bench.run reporting
    BENCH_REPORTING_PARTS=ingest python -m bench.run reporting      # ingest, usage, home (comma-separated)
    BENCH_STATEMENTS=200000 BENCH_CLIENTS=8 BENCH_USAGE_ROWS=1000000 BENCH_HOME_MEMBERS=100000 ...

Against the whole suite (fresh databases, own vhost), one organization:

1. ingest: BENCH_STATEMENTS native statements (load mode of the simulator: learners and courses
   round-robin, fresh ids) pre-serialized in batches of 1,000 and POSTed to /v1/activity by BENCH_CLIENTS
   concurrent keep-alive clients, timed from the first request to the last answer (an answer means
   stored: the unit of work commits before the reply); every statement must come back accepted. Then the
   same batches again (all duplicates). Baseline: PostgreSQL COPY of the same rows into the same
   `statements` table (another org id), in the same run. Target: ≥ 10,000 statements/s.
2. usage: GET /v1/orgs/{org_id}/reports/usage.csv of BENCH_USAGE_ROWS course enrollments through the
   gateway, streamed and counted, while the reporting process's resident memory is sampled from /proc
   (and its VmHWM read at the end). Baseline: `COPY (SELECT …) TO STDOUT` of the same rows (the report's
   own query when the reports module exposes it). Targets: ≤ 10 s, reporting peak RSS < 200 MB.
3. home: GET /v1/orgs/{org_id}/summary and /funnel on the organization of BENCH_HOME_MEMBERS members (an org
   admin; the summary also as the program admin of its program), sequential latency (p50/p99), next to the
   bare HTTP→RPC echo (bench.bare) with the same client.

The organization's members, invitations, enrollments and per-course figures are seeded straight into
reporting's projection (bench/reporting_seed.py), as its event handlers would have left them. A part
whose route is not in the gateway's OpenAPI document is reported as not measured."""
import csv
import io
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy import create_engine, text

from bench.harness import (
    PASSWORD,
    CpuWatch,
    MemorySampler,
    ProcessCpu,
    admin_session,
    create_admin,
    latency_ms,
    login,
    nameko_processes,
    pg_connect,
    pids_matching,
    rss_kb,
    running_suite,
    wait_http,
)
from bench.reporting_seed import seed_org, user_id
from scripts.simulate.generator import Course, Learner, default_period_end, load_statements
from scripts.simulate.platform import batch_bodies, send_concurrently
from servicekit.standalone import unit_of_work
from services.programs.commands import catalog as programs_catalog

PARTS = [p.strip() for p in os.environ.get("BENCH_REPORTING_PARTS", "ingest,usage,home").split(",") if p.strip()]
STATEMENTS = int(os.environ.get("BENCH_STATEMENTS", "200000"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
LEARNERS = int(os.environ.get("BENCH_LEARNERS", "2000"))  # whose statements the ingestion gets
USAGE_ROWS = int(os.environ.get("BENCH_USAGE_ROWS", "1000000"))
HOME_MEMBERS = int(os.environ.get("BENCH_HOME_MEMBERS", "100000"))
SAMPLES = int(os.environ.get("BENCH_SAMPLES", "100"))
SAMPLE_SECONDS = float(os.environ.get("BENCH_SAMPLE_SECONDS", "60"))
INGEST_TARGET = 10_000  # statements/s
USAGE_SECONDS_TARGET, USAGE_RSS_TARGET_MB = 10.0, 200.0

COPY_COLUMNS = ["org_id", "statement_id", "user_id", "verb", "object_type", "item_id", "course_id", "lesson_id",
                "item_type", "score", "max_score", "passed", "attempt", "ts", "source"]


# ------------------------------------------------------------------ helpers


def routes(base_url: str) -> set[str]:
    return set(requests.get(f"{base_url}/v1/openapi.json", timeout=30).json().get("paths", {}))


# ------------------------------------------------------------------ 1. ingestion


def serving(suite) -> dict:
    """The processes that serve ingestion and exports, for ProcessCpu."""
    return {"gateway": [suite.processes["gateway"].pid], "reporting": [suite.processes["reporting"].pid],
            "reporting's PostgreSQL backends": lambda: pids_matching(f" {suite.db_prefix}reporting ")}


def copy_rows(statements: list[dict], org_id: str) -> bytes:
    """The rows reporting stores for these statements (as statements.parse maps them), as COPY csv."""
    out = io.StringIO()
    writer = csv.writer(out)
    for s in statements:
        obj, result = s["object"], s.get("result") or {}
        writer.writerow([org_id, s["id"], s["actor"]["user_id"], s["verb"], obj["type"], obj.get("id"),
                         obj.get("course_id") or obj.get("id"), obj.get("lesson_id"), obj.get("item_type"),
                         result.get("score", ""), result.get("max_score", ""),
                         "" if "passed" not in result else ("t" if result["passed"] else "f"),
                         result.get("attempt", ""), s["timestamp"], "native"])
    return out.getvalue().encode()


def copy_baseline(database_url: str, statements: list[dict]) -> float:
    """Seconds to COPY the same rows into reporting's `statements` table (under another org id, removed after)."""
    other_org = str(uuid.uuid4())
    content = copy_rows(statements, other_org)
    conn = pg_connect(database_url)
    try:
        with conn.cursor() as cur:
            began = time.perf_counter()
            cur.copy_expert(f"COPY statements ({', '.join(COPY_COLUMNS)}) FROM STDIN WITH (FORMAT csv)",
                            io.BytesIO(content))
            conn.commit()
            elapsed = time.perf_counter() - began
            cur.execute("SELECT count(*) FROM statements WHERE org_id = %s", (other_org,))
            assert cur.fetchone()[0] == len(statements)
            cur.execute("DELETE FROM statements WHERE org_id = %s", (other_org,))
            conn.commit()
        return elapsed
    finally:
        conn.close()


def bench_ingest(suite, token: str, org_id: str, courses: list[dict]) -> dict:
    learners = [Learner(user_id(org_id, n)) for n in range(1, LEARNERS + 1)]
    course_rows = [Course.from_catalog(c) for c in courses if c.get("item_count")]
    end = default_period_end()
    statements = load_statements(STATEMENTS, learners, course_rows, period_end=end)
    bodies = batch_bodies(statements)
    # warm-up (not counted): the catalog fetched from programs, connections opened; its statements are older
    # than the measured ones, which thus arrive in time order (no late-arrival recomputation)
    warm = batch_bodies(load_statements(2000, learners, course_rows, period_end=end - timedelta(days=91)))
    send_concurrently(suite.base_url, token, warm, 2)
    process_cpu, watch = ProcessCpu(serving(suite)), CpuWatch()
    totals, seconds = send_concurrently(suite.base_url, token, bodies, CLIENTS)
    cpu = process_cpu.seconds()
    others = watch.others()
    # a batch retried after a 503 (the gateway's RPC deadline) was stored by its first attempt: duplicates then
    assert totals["accepted"] + totals["duplicates"] == STATEMENTS and not totals["rejected"] and \
        (totals["accepted"] == STATEMENTS or totals["retried"]), f"not every statement accepted: {dict(totals)}"
    again, again_seconds = send_concurrently(suite.base_url, token, bodies, CLIENTS)
    assert again["duplicates"] == STATEMENTS, f"the second send is not all duplicates: {dict(again)}"
    copy_seconds = copy_baseline(suite.database_url("reporting"), statements)
    return {"statements": STATEMENTS, "seconds": seconds, "rate": STATEMENTS / seconds,
            "duplicates_seconds": again_seconds, "duplicates_rate": STATEMENTS / again_seconds,
            "copy_seconds": copy_seconds, "copy_rate": STATEMENTS / copy_seconds,
            "cpu": cpu, "others": others, "bytes": sum(map(len, bodies)),
            "retried": totals["retried"], "statuses": {k: v for k, v in totals.items() if k.startswith("status")}}


# ------------------------------------------------------------------ 2. the Usage report


def usage_baseline_sql(org_id: str) -> tuple[str, str]:
    """(description, SQL) of the baseline: the Usage report's own SELECT (services/reporting/reports), read
    by COPY in one go instead of through the streaming export; else (reports not there) an equivalent join."""
    try:
        from services.reporting.reports import export
    except ImportError:
        export = None
    if export is not None and hasattr(export, "org_report_query"):
        return "the report's own SELECT (export.org_report_query)", \
            export.org_report_query(export.ExportRequest("usage", org_id))
    sql = """
SELECT coalesce(pe.full_name, a.full_name), coalesce(pe.email, a.email), pe.external_id, c.name, c.course_id,
       c.slug, c.partner, e.enrolled_at, c.class_start_time, lc.last_activity_at,
       round(100.0 * coalesce(lc.items_completed, 0) / greatest(c.item_count, 1), 2),
       round(coalesce(lc.hours_us, 0) / 3.6e9, 2), CASE WHEN lc.completed_at IS NULL THEN 'No' ELSE 'Yes' END,
       CASE WHEN m.state = 'DELETED_MEMBER' THEN 'Yes' ELSE 'No' END, p.slug, p.name, '', lc.completed_at,
       round(CAST(lc.grade_pct AS numeric), 2), ct.name, pe.manager_name, pe.manager_email, pe.job_title,
       pe.job_type, pe.business_unit, pe.business_unit_2, pe.location_city, pe.location_country,
       pe.location_region
FROM enrollments e
JOIN programs p ON p.program_id = e.program_id
JOIN courses c ON c.course_id = e.course_id
LEFT JOIN memberships m ON m.program_id = e.program_id AND m.user_id = e.user_id
LEFT JOIN contracts ct ON ct.contract_id = m.contract_id
LEFT JOIN people pe ON pe.org_id = e.org_id AND pe.user_id = e.user_id
LEFT JOIN accounts a ON a.user_id = e.user_id
LEFT JOIN learner_courses lc ON lc.org_id = e.org_id AND lc.user_id = e.user_id AND lc.course_id = e.course_id
WHERE e.org_id = %(org_id)s AND e.kind = 'COURSE'"""
    return "an equivalent join written in the benchmark", (sql, {"org_id": org_id})


def copy_out_seconds(database_url: str, query: tuple[str, dict]) -> tuple[float, int]:
    """COPY (SELECT …) TO STDOUT, in a transaction set like an export's (jit off, work_mem, read only)."""
    conn = pg_connect(database_url)

    class Sink(io.RawIOBase):
        def __init__(self):
            self.bytes = 0

        def writable(self):
            return True

        def write(self, data):
            self.bytes += len(data)
            return len(data)

    try:
        sink = Sink()
        with conn.cursor() as cur:
            sql = cur.mogrify(*query).decode()
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cur.execute("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'")
            began = time.perf_counter()
            cur.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)", sink)
            return time.perf_counter() - began, sink.bytes
    finally:
        conn.close()


def bench_usage(suite, headers: dict, org_id: str) -> dict:
    pid = suite.processes["reporting"].pid
    sampler = MemorySampler(pid)
    sampler.start()
    process_cpu, watch = ProcessCpu(serving(suite)), CpuWatch()
    rows = size = 0
    began = time.perf_counter()
    first_byte = None
    with requests.get(f"{suite.base_url}/v1/orgs/{org_id}/reports/usage.csv", headers=headers, stream=True,
                      timeout=300) as response:
        response.raise_for_status()
        for chunk in response.iter_content(chunk_size=1 << 16):
            if first_byte is None:
                first_byte = time.perf_counter() - began
            size += len(chunk)
            rows += chunk.count(b"\n")
    elapsed = time.perf_counter() - began
    cpu, others = process_cpu.seconds(), watch.others()
    peak_mb = max(sampler.stop(), rss_kb(pid, "VmHWM")) / 1024
    description, query = usage_baseline_sql(org_id)
    copy_seconds, copy_bytes = copy_out_seconds(suite.database_url("reporting"), query)
    return {"rows": rows - 1, "bytes": size, "seconds": elapsed, "first_byte": first_byte, "peak_mb": peak_mb,
            "start_mb": sampler.start_kb / 1024, "hwm_is_lifetime": True, "copy_seconds": copy_seconds,
            "cpu": cpu, "others": others,
            "copy_bytes": copy_bytes, "baseline": description}


# ------------------------------------------------------------------ 3. the admin home


def program_admin(suite, org_id: str, program_id: str) -> str:
    """A program admin of the seeded program (identity's own command): their email."""
    from services.identity.commands import accounts, admins

    email = f"bench-padmin-{uuid.uuid4().hex[:8]}@example.com"
    with unit_of_work("identity", suite.database_url("identity")) as uow:
        accounts.ensure_verified_person(uow, org_id, email, "Bench Program Admin", PASSWORD)
        admins.add_admin(uow, org_id, email, "Bench Program Admin", "PROGRAM_ADMIN", [program_id])
    return email


def bench_home(suite, email: str, password: str, org_id: str, program_id: str) -> dict:
    summary = latency_ms(f"{suite.base_url}/v1/orgs/{org_id}/summary",
                         {"Authorization": f"Bearer {login(suite.base_url, email, password)}"}, SAMPLES, SAMPLE_SECONDS)
    funnel = latency_ms(f"{suite.base_url}/v1/orgs/{org_id}/funnel",
                        {"Authorization": f"Bearer {login(suite.base_url, email, password)}"}, SAMPLES, SAMPLE_SECONDS)
    padmin = {"Authorization": f"Bearer {login(suite.base_url, program_admin(suite, org_id, program_id), PASSWORD)}"}
    program_summary = latency_ms(f"{suite.base_url}/v1/orgs/{org_id}/summary", padmin, SAMPLES, SAMPLE_SECONDS)
    with nameko_processes(suite, "bench.bare:EchoService", "bench.bare:HttpRpcEcho") as urls:
        echo_url = urls["bench.bare:HttpRpcEcho"] + "/echo"
        wait_http(echo_url)
        echo = latency_ms(echo_url, {}, SAMPLES, SAMPLE_SECONDS)
    return {"summary": summary, "funnel": funnel, "program_summary": program_summary, "echo": echo}


# ------------------------------------------------------------------ main


def main() -> dict:
    results: dict = {"parts": PARTS}
    with running_suite() as suite:
        available = routes(suite.base_url)
        if "reporting" not in suite.processes:
            print("reporting: the suite has no reporting process (not landed): nothing measured")
            return results
        email, password = create_admin(suite)  # signed in again below: access tokens last 15 minutes
        auth, org_id = admin_session(suite, (email, password))
        with unit_of_work("programs", suite.database_url("programs")) as uow:
            programs_catalog.load_catalog_file(uow, programs_catalog.DEMO_CATALOG)
        courses = json.loads(programs_catalog.DEMO_CATALOG.read_text())["courses"]
        members = max(LEARNERS if "ingest" in PARTS else 0,
                      HOME_MEMBERS if {"usage", "home"} & set(PARTS) else 0)
        per_member = -(-USAGE_ROWS // members) if "usage" in PARTS else (10 if "home" in PARTS else 0)
        engine = create_engine(suite.database_url("reporting"))
        began = time.perf_counter()
        program_id = str(uuid.uuid4())
        seed_org(engine, org_id, program_id, str(uuid.uuid4()), members, courses[:max(per_member, 10)],
                 per_member, pending_invitations=members // 10, figures=bool({"usage", "home"} & set(PARTS)))
        with engine.connect() as conn:
            enrollments = conn.execute(text("SELECT count(*) FROM enrollments WHERE org_id = :o"),
                                       {"o": org_id}).scalar()
        engine.dispose()
        results["seeded"] = {"members": members, "enrollments": enrollments,
                             "seconds": time.perf_counter() - began}
        print(f"  seeded {members:,} members and {enrollments:,} enrollments in {results['seeded']['seconds']:.0f} s",
              flush=True)

        if "ingest" in PARTS:
            if "/v1/activity" not in available:
                results["ingest"] = "not measured: POST /v1/activity is not in the gateway"
            else:
                api_token = requests.post(f"{suite.base_url}/v1/orgs/{org_id}/api-tokens", headers=auth, timeout=30,
                                          json={"name": "bench", "scopes": ["activity:write"]}).json()["token"]
                results["ingest"] = bench_ingest(suite, api_token, org_id, courses)
        auth = {"Authorization": f"Bearer {login(suite.base_url, email, password)}"}  # access tokens last 15 min
        if "usage" in PARTS:
            if "/v1/orgs/{org_id}/reports/usage.csv" not in available:
                results["usage"] = "not measured: GET /v1/orgs/{org_id}/reports/usage.csv is not in the gateway"
            else:
                results["usage"] = bench_usage(suite, auth, org_id)
        auth = {"Authorization": f"Bearer {login(suite.base_url, email, password)}"}
        if "home" in PARTS:
            missing = [p for p in ("/v1/orgs/{org_id}/summary", "/v1/orgs/{org_id}/funnel") if p not in available]
            results["home"] = f"not measured: {', '.join(missing)} not in the gateway" if missing else \
                bench_home(suite, email, password, org_id, program_id)
    report(results)
    return results


def report(results: dict) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\nreporting benchmarks ({when}; seeded: {results.get('seeded')})")
    ingest = results.get("ingest")
    if isinstance(ingest, dict):
        verdict = "met" if ingest["rate"] >= INGEST_TARGET else "NOT met"
        print(f"1. ingestion of {ingest['statements']:,} native statements, batches of 1,000, {CLIENTS} clients "
              f"({ingest['bytes'] / 1e6:.0f} MB of JSON)")
        print(f"   via the gateway, all accepted    {ingest['seconds']:8.2f} s  {ingest['rate']:>10,.0f} statements/s"
              f"  (target ≥ {INGEST_TARGET:,}/s: {verdict})")
        print(f"   the same again, all duplicates   {ingest['duplicates_seconds']:8.2f} s"
              f"  {ingest['duplicates_rate']:>10,.0f} statements/s")
        print(f"   baseline: COPY into statements   {ingest['copy_seconds']:8.2f} s"
              f"  {ingest['copy_rate']:>10,.0f} rows/s")
        if ingest["retried"]:
            print(f"   {ingest['retried']} batches answered 503 (the gateway's RPC deadline) and were sent again")
        print(f"   gateway / COPY time: {ingest['seconds'] / ingest['copy_seconds']:.1f}x; other processes used "
              f"{ingest['others']:.0%} of the machine meanwhile")
        print("   CPU seconds while ingesting: " + ", ".join(f"{name} {seconds:.1f}"
                                                          for name, seconds in ingest["cpu"].items()))
        serving_cpu = sum(v for k, v in ingest["cpu"].items() if k != "benchmark client")
        per = serving_cpu / ingest["statements"]
        print(f"   CPU per statement (gateway + reporting + its PostgreSQL backends): {per * 1e6:.0f} µs, i.e. at most "
              f"{os.cpu_count() / per:,.0f} statements/s with all {os.cpu_count()} cores for them")
    elif ingest:
        print(f"1. ingestion: {ingest}")
    usage = results.get("usage")
    if isinstance(usage, dict):
        verdict = "met" if usage["seconds"] <= USAGE_SECONDS_TARGET else "NOT met"
        memory = "met" if usage["peak_mb"] < USAGE_RSS_TARGET_MB else "NOT met"
        print(f"2. Usage report, {usage['rows']:,} rows ({usage['bytes'] / 1e6:.0f} MB) via the gateway: "
              f"{usage['seconds']:.2f} s (first byte {usage['first_byte']:.2f} s; target ≤ 10 s: {verdict}); "
              f"reporting peak RSS {usage['peak_mb']:.0f} MB (was {usage['start_mb']:.0f} MB before; target "
              f"< 200 MB: {memory})")
        print(f"   baseline: COPY (SELECT …) TO STDOUT, {usage['baseline']}: {usage['copy_seconds']:.2f} s "
              f"({usage['copy_bytes'] / 1e6:.0f} MB); report / COPY: {usage['seconds'] / usage['copy_seconds']:.1f}x")
        print("   CPU seconds during the export: " + ", ".join(f"{name} {seconds:.1f}"
                                                            for name, seconds in usage["cpu"].items())
              + f"; other processes used {usage['others']:.0%} of the machine meanwhile")
    elif usage:
        print(f"2. Usage report: {usage}")
    home = results.get("home")
    if isinstance(home, dict):
        print(f"3. admin home of an organization of {results['seeded']['members']:,} members "
              f"({results['seeded']['enrollments']:,} enrollments), sequential requests on one connection")
        for name in ("summary", "funnel", "program_summary", "echo"):
            figures = home[name]
            label = {"summary": "GET /v1/orgs/{id}/summary", "funnel": "GET /v1/orgs/{id}/funnel",
                     "program_summary": "  the same, a program admin", "echo": "bare HTTP→RPC echo (baseline)"}[name]
            print(f"   {label:<32} p50 {figures['p50']:8.2f} ms  p99 {figures['p99']:8.2f} ms"
                  f"  ({figures['samples']} requests)")
        print(f"   summary / echo p50: {home['summary']['p50'] / home['echo']['p50']:.1f}x; funnel / echo p50: "
              f"{home['funnel']['p50'] / home['echo']['p50']:.1f}x; summary: {home['summary']['body']}")
    elif home:
        print(f"3. admin home: {home}")
    print(flush=True)


if __name__ == "__main__":
    main()
