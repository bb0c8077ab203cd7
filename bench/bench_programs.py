"""programs: the members list of a 100,000-member program, and enrollments.

    python -m bench.run programs

In one run on this machine, against the whole suite (fresh databases, own vhost):
  1. GET /v1/programs/{id}/members, first page (50 rows), and a deep page
     (past ~90 % of the matches) with a search `q=`, through the gateway:
     sequential latency (p50) next to the raw SQL of the same page on the same
     database and to an authenticated GET /v1/me (the baselines), and
     throughput with CONNECTIONS clients; plus the first page of the same
     search (its worst case: matches sort late) and what the deep page would
     cost with OFFSET, to show why keyset;
  2. POST /v1/enrollments requests/s (new enrollments of many learners, each
     a transaction with a row lock and an outbox event) next to a bare nameko
     HTTP entrypoint making one RPC (bench.bare), both with the same client.

The 100,000 memberships are inserted with one SQL statement (joining them one
by one is not what is measured here); the learners' access tokens are minted
with identity's own function, as a login would."""
import http.client
import json
import statistics
import threading
import time
from datetime import date, timedelta
from urllib.parse import urlsplit

import requests
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, text

from bench.harness import (
    CONNECTIONS,
    DURATION,
    admin_session,
    latency_ms,
    nameko_processes,
    run_clients,
    running_suite,
    wait_http,
)
from servicekit.pagination import encode_cursor
from servicekit.standalone import unit_of_work
from services.programs.commands import catalog

MEMBERS = 100_000
PAGE = 50
SEQUENTIAL_SAMPLES = 200
LEARNERS = 400  # enrolling learners (distinct rows: no learner waits on another's lock)
SEARCH = "learner 7"  # matches ~1/10 of the members by name

PAGE_SQL = """
SELECT * FROM memberships WHERE program_id = :p {where}
ORDER BY sort_name, id LIMIT :limit
"""
SEARCH_SQL = "AND (coalesce(email, '') || ' ' || coalesce(lower(full_name), '')) LIKE :q"


def seed_members(engine, org_id: str, program_id: str, contract_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO memberships (id, org_id, program_id, user_id, state, email, full_name, sort_name, "
            "contract_id, joined_at) "
            "SELECT gen_random_uuid(), :o, :p, 'bench-user-' || n, 'MEMBER', 'learner' || n || '@example.com', "
            "'Learner ' || n, 'learner ' || n, :c, now() FROM generate_series(1, :n) AS n"),
            {"o": org_id, "p": program_id, "c": contract_id, "n": MEMBERS})
        conn.execute(text("UPDATE contracts SET licenses_used = :n WHERE id = :c"), {"n": MEMBERS, "c": contract_id})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE memberships"))


def sql_ms(engine, sql: str, params: dict, samples: int = SEQUENTIAL_SAMPLES) -> float:
    """p50 of the raw query, executed on one open connection (no HTTP, no RPC, no serialization)."""
    timings = []
    with engine.connect() as conn:
        for _ in range(samples):
            began = time.perf_counter()
            conn.execute(text(sql), params).all()
            timings.append((time.perf_counter() - began) * 1000)
    return statistics.median(timings)


def rpc_ms(call, samples: int = SEQUENTIAL_SAMPLES) -> float:
    timings = []
    for _ in range(samples):
        began = time.perf_counter()
        call()
        timings.append((time.perf_counter() - began) * 1000)
    return statistics.median(timings)


def http_ms(url: str, headers: dict, samples: int = SEQUENTIAL_SAMPLES) -> float:
    return latency_ms(url, headers, samples, max_seconds=float("inf"))["p50"]


def closed_loop(url: str, requests_of, seconds: float = DURATION) -> dict:
    """CONNECTIONS keep-alive clients for `seconds`; `requests_of(i)` yields
    (method, path, body, headers) for client i. Answers req/s and status counts."""
    parts = urlsplit(url)
    counts: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        local: dict[int, int] = {}
        for method, path, body, headers in requests_of(index):
            if time.monotonic() >= deadline:
                break
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                local[response.status] = local.get(response.status, 0) + 1
            except (OSError, http.client.HTTPException):
                local[0] = local.get(0, 0) + 1
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        connection.close()
        with lock:
            for status, n in local.items():
                counts[status] = counts.get(status, 0) + n

    began = time.monotonic()
    run_clients(client, seconds + 60)
    elapsed = time.monotonic() - began
    return {"rps": sum(counts.values()) / elapsed, "statuses": dict(sorted(counts.items()))}


def main() -> dict:
    from services.identity import credentials

    with running_suite() as suite:
        auth, org_id = admin_session(suite)
        with unit_of_work("programs", suite.database_url("programs")) as uow:
            catalog.load_catalog_file(uow, catalog.DEMO_CATALOG)
        contract = requests.post(f"{suite.base_url}/v1/orgs/{org_id}/contracts", headers=auth, timeout=30, json={
            "name": "Bench contract", "license_count": MEMBERS * 2, "starts_on": str(date.today() - timedelta(1)),
            "ends_on": str(date.today() + timedelta(365))}).json()
        program = requests.post(f"{suite.base_url}/v1/orgs/{org_id}/programs", headers=auth, timeout=30, json={
            "name": "Bench Academy", "contract_ids": [contract["id"]]}).json()
        collection = requests.post(f"{suite.base_url}/v1/programs/{program['id']}/collections", headers=auth,
                                   timeout=30, json={"name": "Everything"}).json()
        course_ids = sorted(json.loads(catalog.DEMO_CATALOG.read_text())["courses"][i]["id"]
                            for i in range(60))
        requests.post(f"{suite.base_url}/v1/collections/{collection['id']}/items", headers=auth, timeout=30,
                      json={"course_ids": course_ids}).raise_for_status()

        engine = create_engine(suite.database_url("programs"))
        print(f"  seeding {MEMBERS:,} members ...", flush=True)
        seed_members(engine, org_id, program["id"], contract["id"])

        # ---- 1. members list
        members_url = f"{suite.base_url}/v1/programs/{program['id']}/members"
        with engine.connect() as conn:
            matches = conn.execute(text(PAGE_SQL.format(where=SEARCH_SQL).replace("LIMIT :limit", "")),
                                   {"p": program["id"], "q": f"%{SEARCH}%"}).all()
        deep_row = matches[int(len(matches) * 0.9)]
        cursor = encode_cursor([deep_row.sort_name, deep_row.id])
        first_sql = PAGE_SQL.format(where="")
        deep_sql = PAGE_SQL.format(where=SEARCH_SQL + " AND (sort_name, id) > (:a, :b)")
        deep_params = {"p": program["id"], "q": f"%{SEARCH}%", "a": deep_row.sort_name, "b": deep_row.id,
                       "limit": PAGE + 1}
        offset_sql = PAGE_SQL.format(where=SEARCH_SQL) + " OFFSET :offset"
        first_page = f"{members_url}?limit={PAGE}"
        deep_page = f"{members_url}?limit={PAGE}&q={SEARCH.replace(' ', '%20')}&cursor={cursor}"
        assert len(requests.get(deep_page, headers=auth, timeout=30).json()["items"]) == PAGE
        search_first_page = f"{members_url}?limit={PAGE}&q={SEARCH.replace(' ', '%20')}"
        latency = {
            "GET /v1/me via gateway (baseline)": http_ms(f"{suite.base_url}/v1/me", auth),
            "first page via gateway": http_ms(first_page, auth),
            "first page raw SQL": sql_ms(engine, first_sql, {"p": program["id"], "limit": PAGE + 1}),
            "deep search page via gateway": http_ms(deep_page, auth),
            "deep search page raw SQL (keyset)": sql_ms(engine, deep_sql, deep_params),
            "first search page via gateway": http_ms(search_first_page, auth),
            "first search page raw SQL": sql_ms(engine, PAGE_SQL.format(where=SEARCH_SQL), {
                "p": program["id"], "q": f"%{SEARCH}%", "limit": PAGE + 1}),
            "same deep page with OFFSET (raw SQL)": sql_ms(engine, offset_sql, {
                "p": program["id"], "q": f"%{SEARCH}%", "limit": PAGE + 1, "offset": int(len(matches) * 0.9)},
                samples=20),
        }
        with ClusterRpcProxy({"AMQP_URI": suite.env["BROKER_URL"], "serializer": "json"}) as rpc:
            latency["first page, RPC list_members only"] = rpc_ms(
                lambda: rpc.programs.list_members(org_id, program["id"], {"limit": PAGE}))
        first_path, deep_path = (urlsplit(u) for u in (first_page, deep_page))
        first_tp = closed_loop(suite.base_url, lambda i: iter(
            lambda: ("GET", f"{first_path.path}?{first_path.query}", None, auth), None))
        deep_tp = closed_loop(suite.base_url, lambda i: iter(
            lambda: ("GET", f"{deep_path.path}?{deep_path.query}", None, auth), None))

        # ---- 2. enrollments
        learners = [f"bench-user-{n}" for n in range(1, LEARNERS + 1)]
        tokens = {u: credentials.issue_access_token(u, f"{u}@example.com", True, [])[0] for u in learners}
        per_client = [learners[i::CONNECTIONS] for i in range(CONNECTIONS)]

        def enrollments_of(index):
            for course_id in course_ids:  # every learner in turn enrolls in the next course: all new rows
                for user_id in per_client[index]:
                    body = json.dumps({"program_id": program["id"], "course_id": course_id,
                                       "collection_id": collection["id"]})
                    yield "POST", "/v1/enrollments", body, {"Authorization": f"Bearer {tokens[user_id]}",
                                                            "Content-Type": "application/json"}

        enroll = closed_loop(suite.base_url, enrollments_of)
        with nameko_processes(suite, "bench.bare:EchoService", "bench.bare:HttpRpcEcho") as urls:
            echo_url = urls["bench.bare:HttpRpcEcho"] + "/echo"
            wait_http(echo_url)
            echo = closed_loop(echo_url, lambda i: iter(lambda: ("GET", "/echo", None, {}), None))
        created = enroll["statuses"].get(201, 0)

        # ---- 3. removing the program (every member removed, licenses freed, one event each)
        with engine.connect() as conn:  # baseline: the bare UPDATE of the same rows, rolled back
            began = time.perf_counter()
            conn.execute(text("UPDATE memberships SET state = 'DELETED_MEMBER', removed_at = now() "
                              "WHERE program_id = :p AND state = 'MEMBER'"), {"p": program["id"]})
            removal_sql_s = time.perf_counter() - began
            conn.rollback()
        began = time.perf_counter()
        removed = requests.delete(f"{suite.base_url}/v1/programs/{program['id']}?confirm=true", headers=auth,
                                  timeout=120)
        removal_s = time.perf_counter() - began
        assert removed.status_code == 200 and removed.json()["removed_members"] >= MEMBERS, removed.text
        with engine.connect() as conn:
            assert conn.execute(text("SELECT licenses_used FROM contracts WHERE id = :c"),
                                {"c": contract["id"]}).scalar() == 0
            removal_events = conn.execute(text("SELECT count(*) FROM kit_outbox WHERE event_type IN "
                                               "('programs.member.removed.v1', 'programs.enrollment.downgraded.v1')"
                                               )).scalar()
        engine.dispose()

    print(f"\nprograms: members list of a {MEMBERS:,}-member program ({PAGE} rows a page), sequential p50")
    for name, ms in latency.items():
        print(f"  {name:<42} {ms:8.2f} ms")
    first, deep = latency["first page via gateway"], latency["deep search page via gateway"]
    print(f"  gateway / raw SQL, first page: {first / latency['first page raw SQL']:.1f}x;"
          f" deep search page: {deep / latency['deep search page raw SQL (keyset)']:.1f}x;"
          f" deep search page / first page via gateway: {deep / first:.2f}x;"
          f" first page / GET /v1/me: {first / latency['GET /v1/me via gateway (baseline)']:.1f}x")
    print(f"programs: members list throughput ({CONNECTIONS} clients, {DURATION:g} s, same Python client)")
    print(f"  first page                {first_tp['rps']:8,.0f} req/s  statuses {first_tp['statuses']}")
    print(f"  deep page + search        {deep_tp['rps']:8,.0f} req/s  statuses {deep_tp['statuses']}")
    print(f"  deep search page / first page: {deep_tp['rps'] / first_tp['rps']:.0%}")
    print(f"programs: enrollments ({CONNECTIONS} clients, {LEARNERS} learners, {DURATION:g} s, same Python client)")
    print(f"  POST /v1/enrollments      {enroll['rps']:8,.0f} req/s  statuses {enroll['statuses']}"
          f" ({created} enrollments created)")
    print(f"  bare HTTP→RPC echo        {echo['rps']:8,.0f} req/s  statuses {echo['statuses']}")
    print(f"  enrollments / bare HTTP→RPC echo: {enroll['rps'] / echo['rps']:.0%}")
    print(f"programs: removing the {MEMBERS:,}-member program (DELETE /v1/programs/{{id}}?confirm=true)")
    print(f"  via gateway               {removal_s:8.2f} s  ({removal_events:,} member/enrollment events recorded)")
    print(f"  bare UPDATE of the rows   {removal_sql_s:8.2f} s  (baseline, rolled back)")
    print(f"  removal / bare UPDATE: {removal_s / removal_sql_s:.0f}x"
          " (this call's RPC deadline: RPC_LONG_TIMEOUT, 120 s)\n", flush=True)
    return {"latency_ms": latency, "first_page": first_tp, "deep_page": deep_tp, "enroll": enroll, "echo": echo,
            "removal_s": removal_s}


if __name__ == "__main__":
    main()
