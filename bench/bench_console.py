"""console: the time a page takes in the console itself, apart from the gateway calls it makes.

    python -m bench.run console

Against the whole suite with the console (fresh databases, own vhost), for six pages (admin home;
a program's Main page with 60 invitees, its first 25 members and a curriculum; the catalog search
that adds courses; the messaging page; a member's profile; the reporting page of a program),
SAMPLES sequential GETs through the console. Every console response carries
`Server-Timing: api;dur=<ms in gateway calls>, app;dur=<the rest>`: the "app" p50 is what the
console adds (session, rendering, headers; the target is under 100 ms). Next to it, the same gateway
calls made directly with one HTTP client, in the same run (their p50 sum), and the page's total p50."""
import re
import statistics
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import requests

from tests.support.suite import Suite

SAMPLES = 60
PASSWORD = "bench-password-123"


def server_timing(response) -> dict[str, float]:
    return {name: float(value) for name, value in re.findall(r"(\w+);dur=([\d.]+)", response.headers["Server-Timing"])}


def p50(values) -> float:
    return statistics.median(values)


def main() -> None:
    from servicekit.standalone import unit_of_work
    from services.identity.commands.organizations import create_org_with_admin
    from services.programs.commands import catalog

    suite = Suite(Path(tempfile.mkdtemp(prefix="bench-console-")), console=True).start()
    try:
        with unit_of_work("programs", suite.database_url("programs")) as uow:
            catalog.load_catalog_file(uow, catalog.DEMO_CATALOG)
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        with unit_of_work("identity", suite.database_url("identity")) as uow:
            org_id = create_org_with_admin(uow, "Bench Console", email, "Bench Admin", PASSWORD)["org_id"]
        gw = requests.Session()
        token = gw.post(f"{suite.base_url}/v1/auth/login", json={"email": email, "password": PASSWORD},
                        timeout=30).json()["access_token"]
        gw.headers["Authorization"] = f"Bearer {token}"
        today = date.today()
        contract = gw.post(f"{suite.base_url}/v1/orgs/{org_id}/contracts", json={
            "name": "Bench", "license_count": 1000, "starts_on": str(today - timedelta(days=1)),
            "ends_on": str(today + timedelta(days=365))}, timeout=30).json()
        program = gw.post(f"{suite.base_url}/v1/orgs/{org_id}/programs", json={
            "name": "Bench Academy", "contract_ids": [contract["id"]]}, timeout=30).json()
        courses = gw.get(f"{suite.base_url}/v1/catalog/courses", params={"limit": 5}, timeout=30).json()["items"]
        collection = gw.post(f"{suite.base_url}/v1/programs/{program['id']}/collections",
                             json={"name": "Start"}, timeout=30).json()
        gw.post(f"{suite.base_url}/v1/collections/{collection['id']}/items",
                json={"course_ids": [c["id"] for c in courses]}, timeout=30)
        for i in range(60):
            gw.post(f"{suite.base_url}/v1/invitations", json={
                "program_id": program["id"], "contract_id": contract["id"], "full_name": f"Bench Person {i}",
                "email": f"bench-{i}-{uuid.uuid4().hex[:6]}@example.com", "send_email": False}, timeout=30)
        time.sleep(3)  # the invitees become members of the program (INVITED) through events

        console = requests.Session()
        form = console.get(f"{suite.console_url}/sign-in", timeout=30).text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        console.post(f"{suite.console_url}/sign-in", data={"email": email, "password": PASSWORD,
                                                            "csrf_token": csrf}, timeout=30).raise_for_status()
        pid = program["id"]
        member = gw.get(f"{suite.base_url}/v1/programs/{pid}/members", params={"limit": 1},
                        timeout=30).json()["items"][0]["user_id"]
        pages = {
            "admin home": ("/admin/", [("GET", f"/v1/orgs/{org_id}/programs", {"limit": 200}),
                                       ("GET", f"/v1/orgs/{org_id}/summary", None),  # 404 until reporting
                                       ("GET", f"/v1/orgs/{org_id}/funnel", None),
                                       ("GET", f"/v1/orgs/{org_id}/contracts", {"limit": 200})]),
            "program Main": (f"/admin/programs/{pid}", [
                ("GET", f"/v1/programs/{pid}", None), ("GET", f"/v1/programs/{pid}/members", {"limit": 25}),
                ("GET", f"/v1/programs/{pid}/collections", None)]),
            "catalog search": (f"/admin/programs/{pid}/collections/{collection['id']}/add?q=data", [
                ("GET", f"/v1/programs/{pid}", None), ("GET", f"/v1/programs/{pid}/collections", None),
                ("GET", "/v1/catalog/courses", {"limit": 25, "q": "data"}),
                ("GET", "/v1/catalog/specializations", {"limit": 25, "q": "data"})]),
            "messaging": (f"/admin/programs/{pid}/messages", [
                ("GET", f"/v1/programs/{pid}", None), ("GET", "/v1/messages/presets", None),
                ("GET", f"/v1/orgs/{org_id}/messages", {"limit": 100}),
                ("GET", f"/v1/orgs/{org_id}/contracts", {"limit": 200}),
                ("GET", f"/v1/programs/{pid}/collections", None)]),
            "member profile": (f"/admin/programs/{pid}/members/{member}", [
                ("GET", f"/v1/programs/{pid}", None), ("GET", f"/v1/orgs/{org_id}/people/{member}", None)]),
            "reporting": (f"/admin/reports?program_id={pid}", [
                ("GET", f"/v1/orgs/{org_id}/programs", {"limit": 200}),
                ("GET", f"/v1/programs/{pid}/collections", None), ("GET", f"/v1/orgs/{org_id}/summary", None),
                ("GET", f"/v1/orgs/{org_id}", None)]),
        }
        print(f"{'page':<16} {'total p50':>10} {'api p50':>9} {'console p50':>12} {'direct API calls p50':>21}")
        for name, (path, calls) in pages.items():
            totals, apis, apps, direct = [], [], [], []
            for _ in range(5):  # warm up
                console.get(suite.console_url + path, timeout=30)
            for _ in range(SAMPLES):
                began = time.perf_counter()
                response = console.get(suite.console_url + path, timeout=30)
                totals.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, (path, response.status_code)
                timing = server_timing(response)
                apis.append(timing["api"])
                apps.append(timing["app"])
                began = time.perf_counter()
                for method, api_path, params in calls:
                    answer = gw.request(method, suite.base_url + api_path, params=params, timeout=30)
                    assert answer.status_code < 500, (api_path, answer.status_code)
                direct.append((time.perf_counter() - began) * 1000)
            print(f"{name:<16} {p50(totals):>8.1f}ms {p50(apis):>7.1f}ms {p50(apps):>10.1f}ms "
                  f"{p50(direct):>19.1f}ms  ({len(calls)} calls)")
    finally:
        suite.stop()


if __name__ == "__main__":
    main()
