"""scim: 1,000 users provisioned in a burst by an identity provider, next to the
bulk CSV import of the same number of people in the same run.

    python -m bench.run scim          (BENCH_SCIM_USERS=1000, BENCH_SCIM_CLIENTS=20)

Against the whole suite (fresh databases, own vhost). SCIM: BENCH_SCIM_CLIENTS
concurrent connections POST /scim/v2/Users until BENCH_SCIM_USERS are created
(each a new account, profile and SCIM row, one identity transaction and its
events; Entra provisions with a few concurrent connections, Okta with up to
~10 per app), then the same users are deprovisioned by PATCH active "False"
(Entra's form) in a burst; the answers follow identity's commit, and the
deprovisionings are applied by programs and invitations from identity's
entitlement events (docs/scim.md): the time until both have applied every one
is measured from the start of that burst. Every answer is counted by status: the target is
no 5xx. The baseline, in the same run: the invitations bulk CSV import (POST
/v1/invitations/imports, set-based) of as many new people, upload to
COMPLETED."""
import os
import threading
import time
import uuid
from collections import Counter
from datetime import date, timedelta

import requests
from sqlalchemy import create_engine, text

from bench.harness import admin_session, running_suite
from tests.support.csvfiles import invitations_csv

USERS = int(os.environ.get("BENCH_SCIM_USERS", "1000"))
CLIENTS = int(os.environ.get("BENCH_SCIM_CLIENTS", "20"))
SCIM = {"Content-Type": "application/scim+json"}


def burst(base_url: str, token: str, requests_: list, clients: int) -> tuple[float, Counter, list[float]]:
    """Send (method, path, body) requests from `clients` threads; (seconds, statuses, latencies)."""
    pending = list(reversed(requests_))
    lock = threading.Lock()
    statuses: Counter = Counter()
    latencies: list[float] = []

    def client():
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {token}", **SCIM})
        while True:
            with lock:
                if not pending:
                    return
                method, path, body = pending.pop()
            began = time.perf_counter()
            try:
                status = session.request(method, base_url + path, json=body, timeout=60).status_code
            except requests.RequestException:
                status = "error"
            with lock:
                statuses[status] += 1
                latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, statuses, latencies


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else 0.0


def main():
    tag = uuid.uuid4().hex[:6]
    with running_suite() as suite:
        headers, org_id = admin_session(suite)
        token = requests.post(f"{suite.base_url}/v1/orgs/{org_id}/api-tokens", headers=headers, timeout=30,
                              json={"name": "bench idp", "scopes": ["scim"]}).json()["token"]
        users = [("POST", "/scim/v2/Users", {
            "userName": f"u{i}-{tag}@scim.bench.example", "externalId": f"S{tag}-{i}", "active": True,
            "name": {"givenName": "Bench", "familyName": f"User {i}"}, "title": "Engineer",
            "emails": [{"value": f"u{i}-{tag}@scim.bench.example", "type": "work", "primary": True}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"}})
            for i in range(USERS)]
        created_s, created, created_lat = burst(suite.base_url, token, users, CLIENTS)
        listed = requests.get(f"{suite.base_url}/scim/v2/Users", params={"count": 0}, timeout=30,
                              headers={"Authorization": f"Bearer {token}"}).json()["totalResults"]
        ids, start = [], 1
        while len(ids) < listed:
            page = requests.get(f"{suite.base_url}/scim/v2/Users", params={"startIndex": start, "count": 200},
                                headers={"Authorization": f"Bearer {token}"}, timeout=30).json()["Resources"]
            ids += [r["id"] for r in page]
            start += len(page)
            if not page:
                break
        off = [("PATCH", f"/scim/v2/Users/{user_id}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                                        "Operations": [{"op": "Replace", "path": "active",
                                                                        "value": "False"}]}) for user_id in ids]
        off_began = time.perf_counter()
        off_s, deprovisioned, off_lat = burst(suite.base_url, token, off, CLIENTS)
        applied_s = {}
        engines = {service: create_engine(suite.database_url(service)) for service in ("programs", "invitations")}
        deadline = time.perf_counter() + 600
        while len(applied_s) < len(engines) and time.perf_counter() < deadline:
            for service, engine in engines.items():
                with engine.connect() as conn:
                    done = conn.execute(text("SELECT count(*) FROM scim_entitlements WHERE org_id = :o "
                                             "AND version >= 1"), {"o": org_id}).scalar()
                if service not in applied_s and done >= len(off):
                    applied_s[service] = time.perf_counter() - off_began
            time.sleep(0.05)
        for engine in engines.values():
            engine.dispose()

        contract = requests.post(f"{suite.base_url}/v1/orgs/{org_id}/contracts", headers=headers, timeout=30, json={
            "name": "Bench contract", "license_count": USERS, "starts_on": str(date.today() - timedelta(days=1)),
            "ends_on": str(date.today() + timedelta(days=365))}).json()
        program = requests.post(f"{suite.base_url}/v1/orgs/{org_id}/programs", headers=headers, timeout=30,
                                json={"name": "Bench program", "contract_ids": [contract["id"]]}).json()
        content = invitations_csv(USERS, tag, name="Learner", domain="csv.bench.example")
        began = time.perf_counter()
        started = requests.post(f"{suite.base_url}/v1/invitations/imports", headers=headers, timeout=120,
                                files={"file": ("bench.csv", content, "text/csv")},
                                data={"program_id": program["id"], "contract_id": contract["id"],
                                      "send_email": "false"}).json()
        while True:
            status = requests.get(f"{suite.base_url}/v1/invitations/imports/{started['import_id']}",
                                  headers=headers, timeout=30).json()
            if status["status"] in ("COMPLETED", "FAILED"):
                break
            time.sleep(0.05)
        csv_s = time.perf_counter() - began

    def fivexx(statuses: Counter) -> int:
        return sum(n for s, n in statuses.items() if s == "error" or int(s) >= 500)

    print(f"\nscim: {USERS:,} users, {CLIENTS} concurrent connections; load {os.getloadavg()[0]:.1f} at the end")
    print(f"{'what':<58}{'seconds':>9}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}  statuses")
    print(f"{'POST /scim/v2/Users (new account + profile + SCIM row)':<58}{created_s:>9.2f}"
          f"{USERS / created_s:>9.0f}{pct(created_lat, .5):>9.0f}{pct(created_lat, .99):>9.0f}  {dict(created)}")
    off_label = 'PATCH active "False" (deprovision: identity + its event)'
    print(f"{off_label:<58}{off_s:>9.2f}"
          f"{len(off) / max(off_s, 1e-9):>9.0f}{pct(off_lat, .5):>9.0f}{pct(off_lat, .99):>9.0f}  "
          f"{dict(deprovisioned)}")
    for service in ("programs", "invitations"):
        label = f"  ... applied by {service} (from the burst's start)"
        seconds = applied_s.get(service)
        print(f"{label:<58}{seconds:>9.2f}{len(off) / seconds:>9.0f}" if seconds else f"{label:<58}  not all in 600 s")
    print(f"{'baseline: bulk CSV import of as many people (to COMPLETED)':<58}{csv_s:>9.2f}"
          f"{USERS / csv_s:>9.0f}{'':>18}  {status['status']}, created {status.get('created')}")
    print(f"5xx or transport errors: {fivexx(created) + fivexx(deprovisioned)} (target 0); "
          f"SCIM users listed afterwards: {listed}")


if __name__ == "__main__":
    main()
