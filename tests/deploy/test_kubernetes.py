"""deploy/k8s against the Kubernetes API schemas (kubernetes-validate, pinned) and
the rules of docs/operations.md: every manifest file is valid (strict: no unknown
field), the kustomization lists exactly the files there are and names one image
with a version tag, every Deployment has an autoscaler, a disruption budget,
topology spread, start-up/readiness/liveness probes and resources, services wait
for their migrations, the migration Job has a deadline and resources, traffic is
denied by default and only the gateway is exposed."""
import re
import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"  # the oldest Kubernetes the manifests support
VERSION_TAG = re.compile(r"^\d+\.\d+\.\d+([-.][\w.]+)?$")


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S_DIR.glob("*.y*ml") if p.name != "kustomization.yaml")


def documents() -> list[tuple[str, dict]]:
    return [(path.name, doc) for path in manifest_files() for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomization() -> dict:
    return yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())


def of_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for _, doc in documents() if doc["kind"] == kind}


def pod_containers(pod: dict) -> list[dict]:
    return pod.get("initContainers", []) + pod["containers"]


def workloads() -> dict[str, dict]:
    """name -> pod spec of every Deployment and Job."""
    pods = {name: d["spec"]["template"]["spec"] for name, d in of_kind("Deployment").items()}
    pods |= {name: j["spec"]["template"]["spec"] for name, j in of_kind("Job").items()}
    return pods


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: p.name)
def test_manifest_is_valid_against_the_kubernetes_schema(path):
    for doc in yaml.safe_load_all(path.read_text()):
        if doc:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validation_can_fail():
    broken = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
              "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "x", "imag": "y"}]}}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_file_and_one_versioned_image():
    config = kustomization()
    listed = config["resources"]
    assert len(listed) == len(set(listed)), "kustomization.yaml lists a file twice"
    assert sorted(listed) == sorted(p.name for p in manifest_files()), (
        "kustomization.yaml must list exactly the manifest files of deploy/k8s")
    assert config.get("namespace") == "learnadmin"
    assert "replicas" not in config, "replicas belong to the HorizontalPodAutoscalers (they would be reset)"
    (image,) = config["images"]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert image["newTag"] == version, "the image tag is the release's version (pyproject.toml)"
    for name, pod in workloads().items():
        for container in pod_containers(pod):
            repository, _, tag = container["image"].partition(":")
            assert repository == image["name"], f"{name}/{container['name']}: image {container['image']}"
            assert VERSION_TAG.match(tag) and tag != "latest", f"{name}/{container['name']}: tag {tag!r}"


def test_references_resolve():
    configmaps, secrets, services = of_kind("ConfigMap"), of_kind("Secret"), of_kind("Service")
    secret_keys = {name: set(s.get("stringData", {})) | set(s.get("data", {})) for name, s in secrets.items()}
    for name, pod in workloads().items():
        for container in pod_containers(pod):
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in configmaps, f"{name}: unknown ConfigMap"
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secret_keys.get(ref["name"], set()), f"{name}: no secret key {ref['key']}"
    deployments = of_kind("Deployment")
    for name, service in services.items():
        selector = service["spec"]["selector"]
        assert any(selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
                   for d in deployments.values()), f"Service {name} selects no Pod"
    for name, ingress in of_kind("Ingress").items():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] in services, f"Ingress {name} routes to unknown Service {backend['name']}"
                ports = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["name"] in ports


def test_every_deployment_scales_survives_disruptions_and_spreads():
    hpas, pdbs = of_kind("HorizontalPodAutoscaler"), of_kind("PodDisruptionBudget")
    for name, deployment in of_kind("Deployment").items():
        assert "replicas" not in deployment["spec"], f"{name}: replicas belong to its HPA"
        hpa = hpas.get(name)
        assert hpa and hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert pdbs.get(name) and pdbs[name]["spec"]["selector"]["matchLabels"].items() <= labels.items()
        pod = deployment["spec"]["template"]["spec"]
        keys = {c["topologyKey"] for c in pod.get("topologySpreadConstraints", [])}
        assert {"topology.kubernetes.io/zone", "kubernetes.io/hostname"} <= keys, f"{name}: topology spread"
        container = pod["containers"][0]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container.get(probe, {}).get("httpGet"), f"{name}: no {probe}"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        strategy = deployment["spec"]["strategy"]["rollingUpdate"]
        assert strategy["maxUnavailable"] == 0, f"{name}: keep serving Pods until successors are ready"


def test_every_container_has_resources_and_runs_locked_down():
    for name, pod in workloads().items():
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod_containers(pod):
            resources = container.get("resources", {})
            assert resources.get("requests", {}).get("memory") and resources.get("limits", {}).get("memory"), (
                f"{name}/{container['name']}: memory request and limit")
            assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_migrations_run_before_the_new_pods():
    job = of_kind("Job")["learnadmin-migrate"]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["python", "-m", "servicekit.migrations"]
    assert job["spec"].get("activeDeadlineSeconds"), "the migration Job needs a deadline"
    for name, deployment in of_kind("Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        database_urls = [e["name"] for c in pod["containers"] for e in c.get("env", [])
                         if e["name"].endswith("_DATABASE_URL")]
        if not database_urls:
            continue  # the gateway has no database
        (wait,) = [c for c in pod.get("initContainers", []) if c["name"] == "wait-for-migrations"]
        assert wait["command"][:4] == ["python", "-m", "servicekit.schema_ready", name]
        assert "--timeout" in wait["command"], f"{name}: the wait for migrations needs a deadline"
        assert [e["name"] for e in wait["env"]] == database_urls


def test_network_is_denied_by_default_and_only_the_gateway_and_console_are_exposed():
    policies = of_kind("NetworkPolicy")
    deny = policies.get("default-deny")
    assert deny and deny["spec"]["podSelector"] == {} and set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert all("ingress" not in p["spec"] or p["spec"].get("podSelector") for p in policies.values())
    exposed = set()
    for policy in policies.values():
        for rule in policy["spec"].get("ingress", []):
            sources = {s.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                       for s in rule.get("from", [])}
            if "ingress-nginx" in sources:
                exposed.add(policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"])
    assert exposed == {"gateway", "console"}
    smtp = [p for p in policies.values() if any(port["port"] in (25, 465, 587)
                                                 for rule in p["spec"].get("egress", [])
                                                 for port in rule.get("ports", []))]
    assert [p["spec"]["podSelector"]["matchLabels"] for p in smtp] == [{"app.kubernetes.io/name": "messaging"}]
    services = of_kind("Service")
    assert all(s["spec"].get("type", "ClusterIP") == "ClusterIP" for s in services.values())


def test_smtp_settings_are_consistent():
    config = of_kind("ConfigMap")["learnadmin-config"]["data"]
    port = config.get("SMTP_PORT")
    if port == "587":
        assert config.get("SMTP_STARTTLS") == "true", "port 587 is submission with STARTTLS"
    if port == "465":
        assert config.get("SMTP_SSL") == "true", "port 465 is SMTP over TLS"
