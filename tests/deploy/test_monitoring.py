"""The alert rules, recording rules and dashboard queries work against the real suite.

promtool (Debian's `prometheus` package, installed by scripts/ensure-infra.sh)
checks the Prometheus configs and the rules. Then the suite is started
(tests/support/suite.py, nothing called yet), a real Prometheus scrapes every
process's ops port and RabbitMQ's queue metrics for a few seconds with the rules
loaded, and every alert, recording rule and panel expression is evaluated: each
must evaluate without error, and every series it reads must exist at start (a
counter that appears only at its first increment makes `rate()` blind to the
first failure)."""
import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

from gateway.routes import SERVICES as GATEWAY_TARGETS
from tests.support.suite import Suite, procfile

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
ALERTS_FILE = PROMETHEUS_DIR / "alerts.yml"
DASHBOARD_FILE = ROOT / "deploy" / "grafana" / "dashboard.json"
OPERATIONS_DOC = ROOT / "docs" / "operations.md"
# The Procfile's nameko services and the gateway (each new service joins by its Procfile line).
SERVICES = tuple(name for name, command in procfile().items() if " services." in command)
PROCESSES = (*SERVICES, "gateway")
RABBITMQ_METRICS = "127.0.0.1:15692"

PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group",
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf",
    "nan",
}
LABEL_CLAUSE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
SELECTOR = re.compile(r"""(?<![\w:.$"'])([a-zA-Z_:][\w:]*)\s*(\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\})?""")


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: `make setup` installs Debian's prometheus package (scripts/ensure-infra.sh)",
                    pytrace=False)
    return path


def selectors(expr: str) -> list[str]:
    """The vector selectors (metric name + matchers) an expression reads."""
    expr = LABEL_CLAUSE.sub(" ", expr)
    found = []
    for match in SELECTOR.finditer(expr):
        name, matchers = match.group(1), match.group(2) or ""
        rest = expr[match.end():].lstrip()
        if name.lower() in PROMQL_WORDS or (not matchers and rest.startswith("(")):
            continue  # an aggregation, function or keyword
        found.append(name + matchers)
    return found


def alert_rules() -> list[dict]:
    data = yaml.safe_load(ALERTS_FILE.read_text())
    return [rule for group in data["groups"] for rule in group["rules"] if "alert" in rule]


def all_rules() -> list[dict]:
    data = yaml.safe_load(ALERTS_FILE.read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[tuple[str, str]]:
    """(panel title, expression) with Grafana's variables resolved as "All" would."""
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    panels = list(dashboard["panels"])
    for panel in dashboard["panels"]:
        panels.extend(panel.get("panels", []))
    exprs = []
    for panel in panels:
        for target in panel.get("targets", []):
            if target.get("expr"):
                expr = target["expr"].replace("$__rate_interval", "1m").replace("$service", ".*")
                exprs.append((panel.get("title", "?"), expr))
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict) and "label_values(" in query.get("query", ""):
            exprs.append((f"variable {variable['name']}", re.search(r"label_values\((.*),\s*\w+\)",
                                                                     query["query"]).group(1)))
    return exprs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- static checks (promtool)


def test_selector_extraction():
    assert selectors('sum by (service) (rate(foo_total{a="b",c=~"x|y"}[5m])) / on (service) bar > 0.5') == [
        'foo_total{a="b",c=~"x|y"}', "bar"]
    assert selectors('histogram_quantile(0.99, sum by (le) (rate(x_bucket{le="1.0"}[1m]))) and y:z:rate5m > 14.4') \
        == ['x_bucket{le="1.0"}', "y:z:rate5m"]
    assert selectors('label_replace(sum by (t) (rate(a{c="g"}[5m])) > 0, "service", "$1", "t", "(.+)")') == [
        'a{c="g"}']


def test_promtool_checks_rules_and_configs(tmp_path):
    promtool = tool("promtool")
    result = subprocess.run([promtool, "check", "rules", str(ALERTS_FILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    result = subprocess.run([promtool, "check", "config", str(PROMETHEUS_DIR / "prometheus.yml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # Debian's Prometheus is built without Kubernetes discovery: check the k8s config with
    # its discovery block swapped for a static target (everything else as written).
    k8s = yaml.safe_load((PROMETHEUS_DIR / "prometheus-k8s.yml").read_text())
    for job in k8s["scrape_configs"]:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": ["pod.example:9101"]}]
    (tmp_path / "prometheus-k8s.yml").write_text(yaml.safe_dump(k8s))
    shutil.copy(ALERTS_FILE, tmp_path / "alerts.yml")
    result = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus-k8s.yml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors."""
    found = set()
    for line in markdown.splitlines():
        heading = re.match(r"^#{1,6}\s+(.*)$", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            found.add(slug)
    return found


def test_every_alert_has_a_runbook_section():
    sections = anchors(OPERATIONS_DOC.read_text())
    for rule in alert_rules():
        annotations = rule.get("annotations", {})
        assert rule.get("labels", {}).get("severity"), f"alert {rule['alert']} has no severity"
        assert annotations.get("summary"), f"alert {rule['alert']} has no summary"
        url = annotations.get("runbook_url", "")
        page, _, anchor = url.partition("#")
        assert page == "docs/operations.md" and anchor, f"alert {rule['alert']}: runbook_url {url!r}"
        assert anchor in sections, f"alert {rule['alert']}: docs/operations.md has no section #{anchor}"
        assert anchor == rule["alert"].lower(), f"alert {rule['alert']}: its section is #{rule['alert'].lower()}"


# ---------------------------------------------------------------- against the running suite


class Prometheus:
    def __init__(self, workdir: Path, suite: Suite):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        scrape_configs = [
            {"job_name": name, "static_configs": [{"targets": [suite.ops_url(name).removeprefix("http://")]}]}
            for name in PROCESSES
        ]
        scrape_configs.append({
            "job_name": "rabbitmq", "metrics_path": "/metrics/detailed",
            "params": {"vhost": [suite.vhost], "family": ["queue_coarse_metrics", "queue_consumer_count"]},
            "static_configs": [{"targets": [RABBITMQ_METRICS]}],
        })
        scrape_configs.append({"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{self.port}"]}]})
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "rule_files": [str(ALERTS_FILE)], "scrape_configs": scrape_configs}
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = open(workdir / "prometheus.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [tool("prometheus"), f"--config.file={workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)

    def query(self, expr: str) -> dict:
        response = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        return response.json()

    def wait_until(self, check, what: str, timeout: float = 45) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {Path(self.log.name).read_text()[-2000:]}")
            try:
                if check():
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    tool("prometheus")
    workdir = tmp_path_factory.mktemp("monitoring")
    suite = Suite(workdir / "suite").start()
    server = None
    try:
        server = Prometheus(workdir, suite)

        def all_targets_scraped_thrice():
            targets = requests.get(f"{server.url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
            up = [t for t in targets if t["health"] == "up"]
            samples = server.query('count_over_time(up{job!="prometheus"}[1m])')["data"]["result"]
            return len(up) == len(PROCESSES) + 2 and len(samples) == len(PROCESSES) + 1 and all(
                float(s["value"][1]) >= 3 for s in samples)

        server.wait_until(all_targets_scraped_thrice, "every target scraped three times")
        # The gateway pings the services every 5 s; its gauge exists from the first ping.
        server.wait_until(lambda: server.query("count(learnadmin_gateway_service_reachable)")["data"]["result"],
                          "the gateway's first ping of the services")

        def rules_evaluated_twice():
            groups = requests.get(f"{server.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
            rules = [r for g in groups for r in g["rules"]]
            return rules and all(r.get("lastEvaluation", "").startswith("20") for r in rules) and all(
                server.query(f"count({r['name']})")["data"]["result"] for r in rules if r["type"] == "recording")

        server.wait_until(rules_evaluated_twice, "every recording rule evaluated")
        yield server
    finally:
        if server is not None:
            server.stop()
        suite.stop()


def test_rules_evaluate_without_errors(prometheus):
    groups = requests.get(f"{prometheus.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert len(rules) == len(all_rules()), "Prometheus did not load every rule"
    broken = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    assert not broken, broken


def test_every_expression_reads_only_series_present_at_start(prometheus):
    expressions = [(f"rule {r.get('alert') or r.get('record')}", r["expr"]) for r in all_rules()]
    expressions += [(f"panel {title!r}", expr) for title, expr in dashboard_exprs()]
    assert len(expressions) > 40
    problems = []
    checked: dict[str, bool] = {}
    for where, expr in expressions:
        answer = prometheus.query(expr)
        if answer.get("status") != "success":
            problems.append(f"{where}: {answer.get('error')}")
            continue
        for selector in selectors(expr):
            if selector not in checked:
                checked[selector] = bool(prometheus.query(f"count({selector})")["data"]["result"])
            if not checked[selector]:
                problems.append(f"{where}: no series {selector}")
    assert not problems, "\n".join(problems)
    assert len(checked) > 20


def values(prometheus, expr: str) -> dict[str, float]:
    result = prometheus.query(expr)["data"]["result"]
    return {json.dumps(r["metric"], sort_keys=True): float(r["value"][1]) for r in result}


def test_counters_exist_at_zero_for_their_known_labels(prometheus):
    """Before any call: one series per event handler, per service, per gateway route
    and per RPC target, every one at 0."""
    handlers = values(prometheus, 'count by (service) (learnadmin_entrypoint_requests_total{kind="event"})')
    assert len(handlers) >= 3, handlers
    for metric in ("learnadmin_events_handled_total", "learnadmin_events_parked_total",
                   "learnadmin_event_handler_retries_total", "learnadmin_events_duplicate_total"):
        assert values(prometheus, f"count by (service) ({metric})") == handlers, metric
        assert values(prometheus, f"sum({metric})") == {"{}": 0.0}, metric
    services = values(prometheus, 'count by (service) (learnadmin_outbox_pending_events)')
    assert len(services) == len(SERVICES), services
    for metric in ("learnadmin_outbox_publish_failures_total", "learnadmin_outbox_published_total"):
        assert set(values(prometheus, f"count by (service) ({metric})")) == set(services), metric
    assert values(prometheus, "sum(learnadmin_outbox_publish_failures_total)") == {"{}": 0.0}
    routes = values(prometheus, 'count(learnadmin_entrypoint_requests_total{service="gateway", kind="http"})')
    assert values(prometheus, 'count(learnadmin_http_responses_total{code="503"})') == routes
    assert values(prometheus, 'count(learnadmin_http_responses_total{code="500"})') == routes
    # (the suite's start-up polls /readyz until it is 200: those 503s are real)
    assert values(prometheus, 'sum(learnadmin_http_responses_total{code=~"5..", route!="/readyz"})') == {"{}": 0.0}
    server_errors = values(prometheus, 'count by (service) (learnadmin_entrypoint_errors_total{code="INTERNAL"})')
    assert server_errors == values(prometheus, "count by (service) (learnadmin_entrypoint_requests_total)")
    targets = values(prometheus, 'count by (target) (learnadmin_rpc_unavailable_total{caller="gateway"})')
    assert len(targets) == len(GATEWAY_TARGETS) and set(targets.values()) == {2.0}, targets
    # (no sum == 0 here: the gateway's /readyz may ping services still starting up)
    assert values(prometheus, 'count(learnadmin_messaging_emails_total)') == {"{}": 3.0}
    assert values(prometheus, 'count(learnadmin_invitation_import_rows_total)') == {"{}": 3.0}


def test_saturation_metrics_describe_every_process(prometheus):
    workers = values(prometheus, "learnadmin:workers_busy:ratio")
    assert {json.loads(k)["service"] for k in workers} == set(PROCESSES)
    pools = values(prometheus, 'learnadmin_db_pool_max_connections{pool="main"}')
    assert {json.loads(k)["service"] for k in pools} == set(PROCESSES) - {"gateway"}
    connections = values(prometheus, "learnadmin_postgres_connections")
    assert len(connections) == len(SERVICES) and all(v >= 1 for v in connections.values()), connections
    queues = values(prometheus, 'rabbitmq_detailed_queue_consumers{queue=~"rpc-.*"}')
    assert {json.loads(k)["queue"] for k in queues} >= {f"rpc-{name}" for name in PROCESSES if name != "gateway"}
    assert all(v >= 1 for v in queues.values()), queues


def test_no_created_series_and_one_prefix(prometheus):
    names = requests.get(f"{prometheus.url}/api/v1/label/__name__/values", timeout=5).json()["data"]
    ours = [n for n in names if not n.startswith(("rabbitmq_", "prometheus_", "go_", "net_", "scrape_", "up",
                                                  "process_", "python_", "promhttp_", "telemetry_"))]
    assert ours and all(n.startswith(("learnadmin_", "learnadmin:", "ALERTS")) for n in ours), ours
    assert not [n for n in names if n.endswith("_created")]
    labels = requests.get(f"{prometheus.url}/api/v1/labels", params={"match[]": '{__name__=~"learnadmin_.*"}'},
                          timeout=5).json()["data"]
    assert "error" not in labels and "status" not in labels, labels


def test_every_metric_is_in_the_docs_table(prometheus):
    names = requests.get(f"{prometheus.url}/api/v1/label/__name__/values", timeout=5).json()["data"]
    documented = set(re.findall(r"`(learnadmin_\w+)`", OPERATIONS_DOC.read_text()))
    ours = {n for n in names if n.startswith("learnadmin_")}
    missing = sorted(n for n in ours if not {n, re.sub(r"_(bucket|sum|count)$", "", n)} & documented)
    assert not missing, f"docs/operations.md (Metrics) does not describe {missing}"
    assert len(ours) >= 20
