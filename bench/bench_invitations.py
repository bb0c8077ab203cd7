"""invitations: a 100,000-row CSV import, end to end.

    python -m bench.run invitations          (BENCH_IMPORT_ROWS=5000 for a shorter run)

Against the whole suite (fresh databases, own vhost): the file is uploaded
through the gateway (POST /v1/invitations/imports, 202) and the import is
timed until its status is COMPLETED; meanwhile the invitations process's
resident memory is sampled (its peak, VmHWM, is read at the end). Every row
is a new person: identity creates the account and profile (set-based
ensure_people), invitations inserts the invitation, and each batch is
announced by one batch event (which programs and messaging consume meanwhile).
The upload has send_email false: the emails are messaging's benchmark.

The baseline, in the same run on the same PostgreSQL: COPY of the same rows
(three text columns) into a table, which is the floor of "getting 100,000 rows
into PostgreSQL" with no checks, accounts nor events."""
import io
import os
import re
import time
from datetime import date, timedelta

import requests

from bench.harness import MemorySampler, admin_session, pg_connect, rss_kb, running_suite
from tests.support.csvfiles import invitations_csv

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "100000"))
TIMEOUT = float(os.environ.get("BENCH_IMPORT_TIMEOUT", "900"))


def copy_baseline(database_url: str, content: bytes) -> float:
    conn = pg_connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE copy_baseline (full_name text, email text, external_id text)")
            began = time.perf_counter()
            cur.copy_expert("COPY copy_baseline FROM STDIN WITH (FORMAT csv, HEADER true)", io.BytesIO(content))
            conn.commit()
            elapsed = time.perf_counter() - began
            cur.execute("SELECT count(*) FROM copy_baseline")
            assert cur.fetchone()[0] == ROWS
        return elapsed
    finally:
        conn.close()


def wait_invited(database_url: str, program_id: str, began: float) -> float:
    """Seconds from the upload until programs (fed by the batch events) lists every row as INVITED."""
    conn = pg_connect(database_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            while True:
                cur.execute("SELECT count(*) FROM memberships WHERE program_id = %s AND state = 'INVITED'",
                            (program_id,))
                if cur.fetchone()[0] >= ROWS:
                    return time.perf_counter() - began
                if time.perf_counter() - began > TIMEOUT:
                    raise RuntimeError(f"programs did not list every invitation within {TIMEOUT} s")
                time.sleep(0.2)
    finally:
        conn.close()


def main():
    with running_suite() as suite:
        headers, org_id = admin_session(suite)
        contract = requests.post(f"{suite.base_url}/v1/orgs/{org_id}/contracts", headers=headers, timeout=30, json={
            "name": "Bench contract", "license_count": ROWS, "starts_on": str(date.today() - timedelta(days=1)),
            "ends_on": str(date.today() + timedelta(days=365))}).json()
        program = requests.post(f"{suite.base_url}/v1/orgs/{org_id}/programs", headers=headers, timeout=30,
                                json={"name": "Bench program", "contract_ids": [contract["id"]]}).json()
        content = invitations_csv(ROWS, "b", name="Learner", domain="bench.example.com")
        pid = suite.processes["invitations"].pid
        sampler = MemorySampler(pid, interval=0.05)
        sampler.start()

        began = time.perf_counter()
        started = requests.post(f"{suite.base_url}/v1/invitations/imports", headers=headers, timeout=120,
                                files={"file": ("bench.csv", content, "text/csv")},
                                data={"program_id": program["id"], "contract_id": contract["id"],
                                      "send_email": "false"})
        accepted_after = time.perf_counter() - began
        assert started.status_code == 202, started.text
        import_id = started.json()["import_id"]
        while True:
            status = requests.get(f"{suite.base_url}/v1/invitations/imports/{import_id}", headers=headers,
                                  timeout=30).json()
            if status["status"] in ("COMPLETED", "FAILED"):
                break
            if time.perf_counter() - began > TIMEOUT:
                raise RuntimeError(f"import not finished after {TIMEOUT} s: {status}")
            time.sleep(0.2)
        elapsed = time.perf_counter() - began
        peak_mb = max(sampler.stop(), rss_kb(pid, "VmHWM")) / 1024
        identity_peak_mb = rss_kb(suite.processes["identity"].pid, "VmHWM") / 1024
        assert status["status"] == "COMPLETED" and status["created"] == ROWS, status
        invited_after = wait_invited(suite.database_url("programs"), program["id"], began)
        copy_seconds = copy_baseline(suite.database_url("invitations"), content)
        # the worker logs each batch's time and the part of it spent waiting for identity
        batches = re.findall(r"in ([0-9.]+) s \(identity ([0-9.]+) s\)", suite.log("invitations"))
        in_identity = sum(float(waited) for _, waited in batches)
        in_batches = sum(float(took) for took, _ in batches)

    size_mb = len(content) / 1024 / 1024
    print(f"\ninvitations: import of a {ROWS:,}-row CSV ({size_mb:.1f} MB), every row a new person")
    print(f"{'what':<52}{'seconds':>10}{'rows/s':>12}")
    print(f"{'upload answered (202, file stored)':<52}{accepted_after:>10.2f}{'':>12}")
    print(f"{'import completed (upload to COMPLETED)':<52}{elapsed:>10.2f}{ROWS / elapsed:>12,.0f}")
    print(f"{'programs lists every row as INVITED':<52}{invited_after:>10.2f}{ROWS / invited_after:>12,.0f}")
    print(f"{'baseline: PostgreSQL COPY of the same rows':<52}{copy_seconds:>10.2f}{ROWS / copy_seconds:>12,.0f}")
    # batches are pipelined (the next one is asked of identity while one is stored): these overlap
    print(f"{'sum of batch times (screen, identity, store)':<52}{in_batches:>10.2f}")
    print(f"{'sum of identity.ensure_people waits':<52}{in_identity:>10.2f}")
    print(f"peak resident memory of the invitations process: {peak_mb:.0f} MB (identity's: {identity_peak_mb:.0f} MB)")
    print(f"import / COPY time ratio: {elapsed / copy_seconds:.0f}x; target: under 60 s and under 300 MB")


if __name__ == "__main__":
    main()
