"""The simulated learning platform's side of the gateway's public HTTP API: an admin session, an API token
with scope `activity:write`, the organization's programs, members and curriculum, learners signing in to
join and enroll, and sending statements (POST /v1/activity, batches of at most 1,000)."""
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

BATCH = 1000
TOKEN_NAME = "Learning platform simulator"
# rejections worth retrying: the learner is not known to reporting yet (it learns members from events)
RETRY_CODES = ("LEARNER", "MEMBER", "ACTOR", "PERSON", "USER")


class ApiError(RuntimeError):
    def __init__(self, response: requests.Response):
        self.status = response.status_code
        try:
            self.error = response.json().get("error", {})
        except ValueError:
            self.error = {"message": response.text[:300]}
        super().__init__(f"{response.request.method} {response.request.path_url}: {self.status} {self.error}")

    @property
    def code(self) -> str | None:
        return self.error.get("code")


class Api:
    """One caller of the gateway (a person's access token or an API token)."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 60, patience: float = 0.0):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.timeout = timeout
        # How long a read or a sign-in is tried again while the platform answers 503: right after `make run`
        # starts, the gateway is ready before the services behind it are.
        self.patience = patience
        if token:
            self.use(token)

    def use(self, token: str) -> None:
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body=None, expect=(200, 201, 204), **params) -> dict | list | None:
        deadline = time.monotonic() + self.patience
        again = method == "GET" or path == "/v1/auth/login"  # safe to repeat: a write might be applied twice
        while True:
            response = self.session.request(method, self.base_url + path, json=body, params=params or None,
                                            timeout=self.timeout)
            if response.status_code in expect:
                return response.json() if response.content else None
            if not (again and response.status_code == 503 and time.monotonic() < deadline):
                raise ApiError(response)
            time.sleep(1)

    def get_all(self, path: str, **params) -> list[dict]:
        """Every item of a paged list (`?limit=&cursor=`)."""
        items, cursor = [], None
        while True:
            page = self.call("GET", path, limit=200, **params, **({"cursor": cursor} if cursor else {}))
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def login(self, email: str, password: str) -> dict:
        tokens = self.call("POST", "/v1/auth/login", {"email": email, "password": password})
        self.use(tokens["access_token"])
        return tokens


def wait_http(url: str, timeout: float = 60, headers: dict | None = None, interval: float = 0.3) -> None:
    """Until `url` answers 200 (for an HTTP→RPC route: until the RPC is answered too)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = requests.get(url, headers=headers, timeout=5)
            if last.status_code == 200:
                return
        except requests.RequestException as exc:
            last = exc
        time.sleep(interval)
    raise RuntimeError(f"{url} not ready: {getattr(last, 'text', last)}")


def wait_for_gateway(base_url: str, timeout: float) -> None:
    wait_http(base_url.rstrip("/") + "/readyz", timeout, interval=1)


def admin_org(admin: Api) -> str:
    """The organization the signed-in person is an org admin of."""
    roles = admin.call("GET", "/v1/me")["roles"]
    orgs = [role["org_id"] for role in roles if role["role"] == "ORG_ADMIN"]
    if not orgs:
        raise RuntimeError("the simulator signs in as an org admin (it creates the API token)")
    return orgs[0]


def fresh_activity_token(admin: Api, org_id: str, name: str = TOKEN_NAME) -> str:
    """A new API token with scope activity:write; the simulator's earlier ones (same name) are revoked (a
    token's secret is shown once, so a rerun cannot reuse it)."""
    earlier = [t for t in admin.call("GET", f"/v1/orgs/{org_id}/api-tokens")
               if t["name"] == name and not t.get("revoked_at")]
    created = admin.call("POST", f"/v1/orgs/{org_id}/api-tokens", {"name": name, "scopes": ["activity:write"]})
    for token in earlier:
        admin.call("DELETE", f"/v1/orgs/{org_id}/api-tokens/{token['id']}")
    return created["token"]


@dataclass
class Catalog:
    courses: dict[str, dict]
    specializations: dict[str, dict]

    @classmethod
    def load(cls, api: Api) -> "Catalog":
        return cls({c["id"]: c for c in api.get_all("/v1/catalog/courses")},
                   {s["id"]: s for s in api.get_all("/v1/catalog/specializations")})

    def courses_of(self, enrollment: dict) -> list[dict]:
        """The course of a course enrollment, a specialization's courses in order."""
        if enrollment.get("course_id"):
            course = self.courses.get(enrollment["course_id"])
            return [course] if course else []
        spec = self.specializations.get(enrollment.get("specialization_id") or "")
        return [self.courses[c] for c in (spec or {}).get("course_ids", []) if c in self.courses]


@dataclass
class Program:
    id: str
    name: str
    slug: str
    members: list[dict]  # MEMBER and INVITED
    offer: list[dict]  # [{collection_id, course_id | specialization_id}] of its collections


def load_programs(admin: Api, org_id: str) -> list[Program]:
    programs = []
    for row in admin.get_all(f"/v1/orgs/{org_id}/programs"):
        members = admin.get_all(f"/v1/programs/{row['id']}/members", state="MEMBER") + \
            admin.get_all(f"/v1/programs/{row['id']}/members", state="INVITED")
        offer = []
        for collection in admin.call("GET", f"/v1/programs/{row['id']}/collections"):
            for item in collection.get("items", []):
                key = "course_id" if item["kind"] == "COURSE" else "specialization_id"
                offer.append({"collection_id": collection["id"], key: item[key]})
        programs.append(Program(row["id"], row["name"], row["slug"], members, offer))
    return programs


@dataclass
class Sent:
    batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    codes: Counter = field(default_factory=Counter)

    def add(self, answer: dict) -> None:
        self.batches += 1
        self.accepted += answer.get("accepted", 0)
        self.duplicates += answer.get("duplicates", 0)


def post_batch(api: Api, statements: list[dict]) -> dict:
    return api.call("POST", "/v1/activity", {"statements": statements})


def send_statements(api: Api, statements: list[dict], *, retry_for: float = 60.0, log=print) -> Sent:
    """Every statement in batches of BATCH; statements rejected because their learner is not known yet are
    sent again (with a pause) for up to `retry_for` seconds; a 503/429 batch is retried the same way."""
    sent = Sent()
    began = time.monotonic()
    pending = statements
    deadline = began + retry_for
    while pending:
        retry: list[dict] = []
        for start in range(0, len(pending), BATCH):
            batch = pending[start:start + BATCH]
            answer = _post_with_retries(api, batch, deadline)
            sent.add(answer)
            for rejection in answer.get("rejected", []):
                code = str(rejection.get("code", ""))
                if any(word in code for word in RETRY_CODES) and time.monotonic() < deadline:
                    retry.append(batch[rejection["index"]])
                else:
                    sent.rejected.append({**rejection, "statement": batch[rejection["index"]]})
                    sent.codes[code] += 1
        if retry:
            log(f"  {len(retry)} statements of learners reporting does not know yet; sending them again in 2 s")
            time.sleep(2)
        pending = retry
    sent.seconds = time.monotonic() - began
    return sent


def _post_with_retries(api: Api, batch: list[dict], deadline: float) -> dict:
    while True:
        try:
            return post_batch(api, batch)
        except ApiError as exc:
            if exc.status in (429, 502, 503) and time.monotonic() < deadline:
                time.sleep(1)
                continue
            raise
        except requests.ConnectionError:
            if time.monotonic() < deadline:
                time.sleep(1)
                continue
            raise


def send_concurrently(base_url: str, token: str, bodies: Iterable[bytes], clients: int) -> tuple[Counter, float]:
    """Pre-serialized `{"statements": [...]}` bodies POSTed to /v1/activity by `clients` threads (each with
    its own keep-alive connection), client i sending bodies i, i + clients, ...; a 429/503 answer is retried
    (counted in `retried`). Returns (summed answer fields and statuses, seconds)."""
    bodies = list(bodies)
    totals: Counter = Counter()
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    url = base_url.rstrip("/") + "/v1/activity"

    def client(index: int) -> None:
        with requests.Session() as session:
            for body in bodies[index::clients]:
                local = Counter()
                for _ in range(30):
                    response = session.post(url, data=body, headers=headers, timeout=120)
                    if response.status_code not in (429, 503):
                        break
                    local["retried"] += 1  # a 503 may come after reporting stored the batch: then duplicates
                    time.sleep(0.5)
                local[f"status {response.status_code}"] += 1
                if response.status_code < 300:
                    answer = response.json()
                    local.update(accepted=answer.get("accepted", 0), duplicates=answer.get("duplicates", 0),
                                 rejected=len(answer.get("rejected", [])))
                else:
                    print(f"  batch answered {response.status_code}: {response.text[:300]}", file=sys.stderr)
                with lock:
                    totals.update(local)

    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return totals, time.perf_counter() - began


def batch_bodies(statements: list[dict], size: int = BATCH) -> list[bytes]:
    return [json.dumps({"statements": statements[i:i + size]}, separators=(",", ":")).encode()
            for i in range(0, len(statements), size)]
