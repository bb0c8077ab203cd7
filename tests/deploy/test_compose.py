"""The deployment material agrees with the code (pure file checks, no Docker).

The list of services comes from the filesystem: every `services/<name>/` folder
with a `service.py` must have, in docker-compose.yml, a container running its
nameko class with its own database URL (own database, own role, created by
deploy/postgres/init.sql), the broker, a /readyz healthcheck, a place in the
migration job, a Prometheus scrape of its ops port, and a Kubernetes
Deployment + Service with probes on that port. Nothing may refer to a service
whose folder does not exist. Alert rules and the dashboard may only use metric
names that the code defines (tests/deploy/test_monitoring.py evaluates them against
the running suite)."""
import ast
import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy.engine import make_url

from servicekit import config

ROOT = Path(__file__).resolve().parents[2]
SERVICES_DIR = ROOT / "services"
COMPOSE_FILE = ROOT / "docker-compose.yml"
INIT_SQL = ROOT / "deploy" / "postgres" / "init.sql"
INIT_SH = ROOT / "deploy" / "postgres" / "init.sh"
PROMETHEUS_FILE = ROOT / "deploy" / "prometheus" / "prometheus.yml"
K8S_DIR = ROOT / "deploy" / "k8s"
PROCFILE = ROOT / "Procfile"
GATEWAY_OPS_PORT = 9100  # the gateway's /metrics, /healthz, /readyz in compose, Kubernetes and `make run`

HOW_TO_ADD = (
    "add a '{svc}' service to docker-compose.yml (command `python -m servicekit.run "
    "services.{svc}.service:<Class>`, {SVC}_DATABASE_URL with its own role and database, BROKER_URL, "
    "OPS_HOST, {SVC}_OPS_PORT, a /readyz healthcheck, depends_on migrate), its role and database to "
    "deploy/postgres/init.sql (password variable passed by init.sh from {SVC}_DB_PASSWORD), its URL to "
    "the migrate service, a scrape job to deploy/prometheus/prometheus.yml, "
    "and deploy/k8s/{svc}.yaml (Deployment with a wait-for-migrations init container, Service, "
    "HorizontalPodAutoscaler, PodDisruptionBudget; copy programs.yaml) listed in deploy/k8s/kustomization.yaml"
)


# ---------------------------------------------------------------- loading


def existing_services() -> list[str]:
    """Service folders that hold a nameko service (service.py)."""
    return sorted(p.parent.name for p in SERVICES_DIR.glob("*/service.py"))


def service_folders() -> set[str]:
    """Every service folder, finished or being built."""
    return {p.name for p in SERVICES_DIR.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))}


def service_class(svc: str) -> str:
    """The class in services/<svc>/service.py whose nameko `name` is <svc>."""
    tree = ast.parse((SERVICES_DIR / svc / "service.py").read_text())
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        for stmt in node.body:
            if (isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "name" for t in stmt.targets)
                    and isinstance(stmt.value, ast.Constant) and stmt.value.value == svc):
                return node.name
    raise AssertionError(f"services/{svc}/service.py has no class with name = {svc!r}")


_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*)|(:?\?)([^}]*))?\}")


def required(name: str) -> str:
    """What a required variable (${NAME:?message}) stands for in these checks."""
    return f"env-{name}"


def interpolate(value):
    """Compose's ${VAR:-default} resolved to its default; ${VAR:?message} (required,
    no default) to required(VAR)."""
    if isinstance(value, str):
        return _INTERPOLATION.sub(lambda m: required(m.group(1)) if m.group(4) else (m.group(3) or ""), value)
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value


def load_compose() -> dict:
    data = interpolate(yaml.safe_load(COMPOSE_FILE.read_text()))
    assert isinstance(data.get("services"), dict), "docker-compose.yml has no services"
    return data


def compose_services() -> dict:
    return load_compose()["services"]


def compose_entry(services: dict, svc: str) -> dict:
    if svc not in services:
        pytest.fail(f"services/{svc}/service.py exists but docker-compose.yml has no '{svc}' service: "
                    + HOW_TO_ADD.format(svc=svc, SVC=svc.upper()), pytrace=False)
    return services[svc]


def env_of(container: dict) -> dict[str, str]:
    env = container.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def command_of(container: dict) -> str:
    command = container.get("command") or ""
    return " ".join(command) if isinstance(command, list) else str(command)


def ops_port_of(svc: str, env: dict[str, str]) -> int:
    """The port the service binds, by the same precedence as servicekit.config.ops_port."""
    value = env.get(f"{svc.upper()}_OPS_PORT", env.get("OPS_PORT"))
    return int(value) if value is not None else 0


def infra_service(services: dict, image_prefix: str) -> str:
    names = [n for n, c in services.items() if str(c.get("image", "")).startswith(image_prefix)]
    assert len(names) == 1, f"docker-compose.yml needs exactly one {image_prefix} container, found {names}"
    return names[0]


def init_sql() -> str:
    return INIT_SQL.read_text()


def sql_roles() -> dict[str, str | None]:
    """role -> the psql variable holding its password (PASSWORD :'var') of every
    CREATE ROLE ... LOGIN in init.sql (None for a literal or no password)."""
    roles = {}
    for m in re.finditer(r"CREATE\s+(?:ROLE|USER)\s+\"?(\w+)\"?([^;]*);", init_sql(), re.IGNORECASE):
        password = re.search(r"PASSWORD\s+:'(\w+)'", m.group(2), re.IGNORECASE)
        roles[m.group(1)] = password.group(1) if password else None
        assert re.search(r"\bLOGIN\b", m.group(2), re.IGNORECASE) or m.group(0).upper().startswith("CREATE USER"), (
            f"deploy/postgres/init.sql: role {m.group(1)} cannot log in (add LOGIN)")
    return roles


def sql_databases() -> dict[str, str | None]:
    """database -> owner of every CREATE DATABASE in init.sql."""
    databases = {}
    for m in re.finditer(r"CREATE\s+DATABASE\s+\"?(\w+)\"?([^;]*);", init_sql(), re.IGNORECASE):
        owner = re.search(r"OWNER\s*=?\s*\"?(\w+)\"?", m.group(2), re.IGNORECASE)
        databases[m.group(1)] = owner.group(1) if owner else None
    return databases


def prometheus_targets() -> dict[str, set[tuple[str, int]]]:
    """job -> (host, port) pairs it scrapes (static targets and DNS service discovery)."""
    data = yaml.safe_load(PROMETHEUS_FILE.read_text())
    jobs: dict[str, set[tuple[str, int]]] = {}
    for job in data.get("scrape_configs", []):
        targets = jobs.setdefault(job["job_name"], set())
        for static in job.get("static_configs", []):
            for target in static.get("targets", []):
                host, _, port = target.rpartition(":")
                targets.add((host, int(port)))
        for dns in job.get("dns_sd_configs", []):
            for name in dns.get("names", []):
                targets.add((name, int(dns["port"])))
    return jobs


def k8s_documents() -> list[dict]:
    docs = []
    for path in sorted(K8S_DIR.glob("*.y*ml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                doc["__file__"] = path.name
                docs.append(doc)
    return docs


def k8s_find(kind: str, name: str) -> dict | None:
    return next((d for d in k8s_documents() if d.get("kind") == kind and d["metadata"]["name"] == name), None)


def k8s_secret_keys() -> set[str]:
    secret = k8s_find("Secret", "learnadmin-secrets")
    assert secret is not None, "deploy/k8s has no Secret learnadmin-secrets"
    return set((secret.get("stringData") or {}) | (secret.get("data") or {}))


# The services that exist and the ones planned next: a deploy file naming one
# of them must find its services/ folder.
KNOWN_NAMES = set(config.service_names()) | {"reporting", "skills"}


def procfile() -> dict[str, str]:
    lines = [line.split(":", 1) for line in PROCFILE.read_text().splitlines()
             if ":" in line and not line.startswith("#")]
    return {name.strip(): command.strip() for name, command in lines}


def referenced_services(text: str) -> set[str]:
    """Service names (KNOWN_NAMES) that a piece of text refers to:
    a module `services.<name>.`, a `<NAME>_DATABASE_URL` or a `<NAME>_OPS_PORT`."""
    found = set(re.findall(r"\bservices\.(\w+)\.", text))
    for svc in KNOWN_NAMES:
        if re.search(rf"\b{svc.upper()}_(DATABASE_URL|OPS_PORT)\b", text):
            found.add(svc)
    return found


SERVICES = existing_services()


def test_services_are_found():
    assert "identity" in SERVICES, "derived service list looks wrong: services/identity/service.py not found"


# ---------------------------------------------------------------- docker-compose.yml, per service


@pytest.mark.parametrize("svc", SERVICES)
def test_compose_runs_the_service(svc):
    services = compose_services()
    compose_entry(services, svc)
    expected = f"python -m servicekit.run services.{svc}.service:{service_class(svc)}"
    assert command_of(services[svc]) == expected, f"docker-compose.yml '{svc}' must run `{expected}`"
    assert "build" in services[svc] or "image" in services[svc]
    if svc in procfile():
        assert procfile()[svc] == expected, f"Procfile and docker-compose.yml run '{svc}' differently"


@pytest.mark.parametrize("svc", SERVICES)
def test_compose_service_has_its_own_database_and_role(svc):
    services = compose_services()
    compose_entry(services, svc)
    env = env_of(services[svc])
    key = f"{svc.upper()}_DATABASE_URL"
    assert key in env, f"docker-compose.yml '{svc}' has no {key}"
    url = make_url(env[key])
    postgres = infra_service(services, "postgres")
    assert url.drivername == "postgresql+psycopg2", f"{key}: use postgresql+psycopg2 (eventlet-cooperative driver)"
    assert url.host == postgres, f"{key} must point at the '{postgres}' container, not {url.host!r}"
    assert url.database == svc, f"{key} must name the database {svc!r}, not {url.database!r}"
    assert url.username == svc, f"{key} must log in as the role {svc!r} (one role per service), not {url.username!r}"
    others = sorted(k for k in env if k.endswith("_DATABASE_URL") and k != key) + (
        ["DATABASE_BASE_URL"] if "DATABASE_BASE_URL" in env else [])
    assert not others, f"docker-compose.yml '{svc}' may only see its own database, but also has {others}"

    roles, databases = sql_roles(), sql_databases()
    assert svc in roles, f"deploy/postgres/init.sql does not create the role {svc!r}"
    variable = f"{svc.upper()}_DB_PASSWORD"
    assert url.password == required(variable), f"{key}: the password must be ${{{variable}:?...}} (no default)"
    assert roles[svc] == f"{svc}_password", f"init.sql: role {svc!r} must take PASSWORD :'{svc}_password'"
    assert f'-v {svc}_password="${variable}"' in INIT_SH.read_text(), (
        f"deploy/postgres/init.sh must pass {variable} to init.sql as {svc}_password")
    postgres_env = env_of(services[postgres])
    assert postgres_env.get(variable) == required(variable), f"the postgres container needs {variable} (init.sh)"
    assert svc in databases, f"deploy/postgres/init.sql does not create the database {svc!r}"
    assert databases[svc] == svc, f"deploy/postgres/init.sql: database {svc!r} must be OWNED by role {svc!r}"
    assert re.search(rf"REVOKE\s+ALL\s+ON\s+DATABASE\s+{svc}\s+FROM\s+PUBLIC", init_sql(), re.IGNORECASE), (
        f"deploy/postgres/init.sql: revoke PUBLIC's access to database {svc!r} so other roles cannot connect")


@pytest.mark.parametrize("svc", SERVICES)
def test_compose_service_environment(svc):
    services = compose_services()
    compose_entry(services, svc)
    env = env_of(services[svc])
    assert env.get("BROKER_URL"), f"docker-compose.yml '{svc}' has no BROKER_URL"
    broker = urlsplit(env["BROKER_URL"])
    assert broker.scheme == "amqp" and broker.hostname == infra_service(services, "rabbitmq"), (
        f"'{svc}' BROKER_URL must point at the RabbitMQ container")
    assert broker.username and broker.username != "guest", "RabbitMQ's guest user only logs in from localhost"
    # a secret only where it is used: JWT_PRIVATE_KEY signs (identity), UNSUBSCRIBE_SECRET signs links (messaging)
    assert bool(env.get("JWT_PRIVATE_KEY")) == (svc == "identity"), f"'{svc}': JWT_PRIVATE_KEY belongs to identity only"
    assert "JWT_SECRET" not in env, f"'{svc}': the shared JWT_SECRET is gone (asymmetric signing)"
    assert bool(env.get("UNSUBSCRIBE_SECRET")) == (svc == "messaging"), (
        f"'{svc}': UNSUBSCRIBE_SECRET belongs to messaging only")
    assert env.get("OPS_HOST") == "0.0.0.0", f"'{svc}' needs OPS_HOST=0.0.0.0 so probes and Prometheus reach it"
    port = ops_port_of(svc, env)
    assert port > 0, f"'{svc}' needs a fixed ops port"
    healthcheck = command_of({"command": (services[svc].get("healthcheck") or {}).get("test", "")})
    assert f":{port}/readyz" in healthcheck, f"'{svc}' healthcheck must request /readyz on its ops port {port}"


@pytest.mark.parametrize("svc", SERVICES)
def test_compose_service_starts_after_migrations(svc):
    services = compose_services()
    compose_entry(services, svc)
    depends = services[svc].get("depends_on") or {}
    assert isinstance(depends, dict) and depends.get("migrate", {}).get("condition") == (
        "service_completed_successfully"), f"'{svc}' must depend on migrate: service_completed_successfully"
    migrate = services["migrate"]
    assert command_of(migrate) == "python -m servicekit.migrations", (
        "migrate must run `python -m servicekit.migrations`")
    key = f"{svc.upper()}_DATABASE_URL"
    assert env_of(migrate).get(key) == env_of(services[svc])[key], f"migrate must use the same {key} as '{svc}'"


def test_messaging_sends_to_the_mail_sink():
    services = compose_services()
    assert "messaging" in SERVICES
    sink = next((n for n, c in services.items() if "mailsink" in command_of(c)), None)
    assert sink, "docker-compose.yml needs a mail sink container (scripts.mailsink)"
    env = env_of(services["messaging"])
    assert env.get("SMTP_HOST") == sink, "messaging's SMTP_HOST must be the mail sink container"
    assert env.get("SMTP_PORT") == env_of(services[sink]).get("SMTP_PORT", "1025")
    assert env_of(services[sink]).get("MAILSINK_HOST") == "0.0.0.0", \
        "the mail sink must listen on all interfaces in its container (MAILSINK_HOST)"


# ---------------------------------------------------------------- Prometheus and Kubernetes, per service


@pytest.mark.parametrize("svc", SERVICES)
def test_prometheus_scrapes_the_ops_port(svc):
    services = compose_services()
    compose_entry(services, svc)
    port = ops_port_of(svc, env_of(services[svc]))
    scraped = {target for targets in prometheus_targets().values() for target in targets}
    assert (svc, port) in scraped, f"deploy/prometheus/prometheus.yml does not scrape {svc}:{port}"


@pytest.mark.parametrize("svc", SERVICES)
def test_kubernetes_deployment_and_service(svc):
    deployment = k8s_find("Deployment", svc)
    if deployment is None:
        pytest.fail(f"deploy/k8s has no Deployment {svc!r}: " + HOW_TO_ADD.format(svc=svc, SVC=svc.upper()),
                    pytrace=False)
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    expected = ["python", "-m", "servicekit.run", f"services.{svc}.service:{service_class(svc)}"]
    assert container.get("command") == expected, f"deploy/k8s Deployment {svc!r} must run {' '.join(expected)}"
    env = {e["name"]: e for e in container.get("env", [])}
    key = f"{svc.upper()}_DATABASE_URL"
    assert env.get(key, {}).get("valueFrom", {}).get("secretKeyRef", {}).get("key") == key, (
        f"Deployment {svc!r} must read {key} from the Secret")
    assert key in k8s_secret_keys(), f"deploy/k8s/secret.yaml has no {key}"
    own = {k for k in env if k.endswith("_DATABASE_URL")}
    assert own == {key}, f"Deployment {svc!r} may only see its own database, has {sorted(own)}"
    assert "BROKER_URL" in env and "BROKER_URL" in k8s_secret_keys()
    port = int(env[f"{svc.upper()}_OPS_PORT"]["value"]) if f"{svc.upper()}_OPS_PORT" in env else 0
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    assert port in ports.values(), f"Deployment {svc!r} must expose its ops port {port}"
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        http = container.get(probe, {}).get("httpGet", {})
        probe_port = ports.get(http.get("port"), http.get("port"))
        assert http.get("path") == path and probe_port == port, f"Deployment {svc!r}: {probe} must GET {path}:{port}"
    service = k8s_find("Service", svc)
    assert service is not None, f"deploy/k8s has no Service {svc!r}"
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()

    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    assert deployment["__file__"] in kustomization["resources"], (
        f"kustomization.yaml must list {deployment['__file__']}")
    assert k8s_find("HorizontalPodAutoscaler", svc) is not None, (
        f"deploy/k8s/{svc}.yaml needs a HorizontalPodAutoscaler (each service scales on its own)")
    assert k8s_find("PodDisruptionBudget", svc) is not None, f"deploy/k8s/{svc}.yaml needs a PodDisruptionBudget"

    job = k8s_find("Job", "learnadmin-migrate")
    assert job is not None, "deploy/k8s has no migration Job"
    job_env = {e["name"] for e in job["spec"]["template"]["spec"]["containers"][0].get("env", [])}
    assert key in job_env, f"the migration Job needs {key}"


# ---------------------------------------------------------------- the gateway


def test_gateway_everywhere():
    services = compose_services()
    assert "gateway" in services, "docker-compose.yml has no gateway"
    gateway = services["gateway"]
    assert command_of(gateway) == "python -m servicekit.run gateway.app:Gateway"
    assert procfile().get("gateway") == command_of(gateway)
    env = env_of(gateway)
    assert env.get("WEB_SERVER_ADDRESS") == "0.0.0.0:8000" and env.get("BROKER_URL")
    assert not [k for k in env if k.endswith("_DATABASE_URL")], "the gateway owns no database"
    assert "JWT_PRIVATE_KEY" not in env and "JWT_SECRET" not in env, "the gateway verifies with public keys only"
    assert [str(p) for p in gateway.get("ports", [])] == ["8000:8000"], "the gateway publishes its API port only"
    assert env.get("GATEWAY_OPS_PORT") == str(GATEWAY_OPS_PORT)
    assert f":{env['GATEWAY_OPS_PORT']}/readyz" in command_of({"command": gateway["healthcheck"]["test"]})
    scraped = {t for ts in prometheus_targets().values() for t in ts}
    ops_port = GATEWAY_OPS_PORT
    assert ("gateway", ops_port) in scraped, f"Prometheus must scrape the gateway's ops port gateway:{ops_port}"
    deployment = k8s_find("Deployment", "gateway")
    assert deployment is not None and k8s_find("Service", "gateway") is not None
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "servicekit.run", "gateway.app:Gateway"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_shared_kubernetes_config():
    configmap = k8s_find("ConfigMap", "learnadmin-config")
    assert configmap is not None and configmap["data"].get("OPS_HOST") == "0.0.0.0", (
        "deploy/k8s/configmap.yaml must set OPS_HOST=0.0.0.0 so probes reach the ops port")
    assert {"BROKER_URL", "JWT_PRIVATE_KEY", "UNSUBSCRIBE_SECRET"} <= k8s_secret_keys()
    assert "JWT_SECRET" not in k8s_secret_keys()
    for name in ("x-image", "migrate"):
        build = (yaml.safe_load(COMPOSE_FILE.read_text()).get(name) or compose_services()[name]).get("build")
        assert build and build["dockerfile"] == "deploy/Dockerfile"


# ---------------------------------------------------------------- nothing refers to a missing service


def test_compose_refers_only_to_existing_services():
    services = compose_services()
    folders = service_folders()
    for name, container in services.items():
        text = yaml.safe_dump(container)
        missing = referenced_services(text) - folders
        assert not missing, f"docker-compose.yml '{name}' refers to {sorted(missing)}, which has no services/ folder"
        if name in KNOWN_NAMES:
            assert name in folders, f"docker-compose.yml runs '{name}' but services/{name}/ does not exist"
        depends = container.get("depends_on") or {}
        unknown = [d for d in depends if d not in services]
        assert not unknown, f"docker-compose.yml '{name}' depends on unknown services {unknown}"
        # an entry without a condition waits for nothing (a slip that once left the gateway starting before skills)
        unconditional = [d for d, how in depends.items() if not (how or {}).get("condition")] \
            if isinstance(depends, dict) else []  # the short list form means "started", on purpose
        assert not unconditional, f"docker-compose.yml '{name}' depends on {unconditional} without a condition"


def test_deploy_files_refer_only_to_existing_services():
    folders = service_folders()
    known = KNOWN_NAMES
    sql_names = (set(sql_roles()) | set(sql_databases())) & known
    assert sql_names <= folders, (
        f"deploy/postgres/init.sql creates {sorted(sql_names - folders)}, which has no services/ folder")
    for job, targets in prometheus_targets().items():
        for host, _ in targets:
            assert host not in known or host in folders, f"prometheus.yml job {job!r} scrapes missing service {host!r}"
    for doc in k8s_documents():
        name = doc["metadata"]["name"]
        assert name not in known or name in folders, (
            f"deploy/k8s/{doc['__file__']} defines {name!r}, which does not exist")
        missing = referenced_services(yaml.safe_dump(doc)) - folders
        assert not missing, f"deploy/k8s/{doc['__file__']} refers to {sorted(missing)}, which does not exist"
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (K8S_DIR / resource).is_file(), f"kustomization.yaml lists missing {resource}"


def test_procfile_services_are_in_compose():
    services = compose_services()
    for command in procfile().values():
        module = re.search(r"servicekit\.run\s+services\.(\w+)\.service:(\w+)", command)
        if module:
            assert module.group(1) in services, f"Procfile runs {module.group(1)!r}; docker-compose.yml does not"


# ---------------------------------------------------------------- secrets, ports, monitoring, images

SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY\b")


def test_compose_secrets_have_no_silent_default():
    raw = "\n".join(line for line in COMPOSE_FILE.read_text().splitlines() if not line.lstrip().startswith("#"))
    for match in _INTERPOLATION.finditer(raw):
        name = match.group(1)
        if SECRET_NAME.search(name) and name != "DEMO_PASSWORD":  # the demo profile is explicit dev mode
            assert match.group(4) == ":?", f"docker-compose.yml: ${{{name}}} must be ${{{name}:?message}} (no default)"
    for name, container in compose_services().items():
        for key, value in env_of(container).items():
            if key == "DEMO_PASSWORD":
                continue
            if SECRET_NAME.search(key) or key in ("BROKER_URL",) or key.endswith("_DATABASE_URL"):
                assert "env-" in value, f"'{name}' {key} must come from a required variable, not {value!r}"
    example = ROOT / "deploy" / "compose.env.example"
    names = {line.split("=", 1)[0] for line in example.read_text().splitlines() if "=" in line and line[0] != "#"}
    needed = {m.group(1) for m in _INTERPOLATION.finditer(raw) if m.group(4)}
    assert needed <= names, f"deploy/compose.env.example lacks {sorted(needed - names)}"


def test_only_the_api_and_the_console_are_published():
    for name, container in compose_services().items():
        if name not in ("gateway", "console"):
            assert not container.get("ports"), f"'{name}' publishes {container['ports']} (see compose.admin.yml)"
    admin = yaml.safe_load((ROOT / "deploy" / "compose.admin.yml").read_text())["services"]
    for name, container in admin.items():
        assert all(str(p).startswith("127.0.0.1:") for p in container["ports"]), f"compose.admin.yml: {name}"
    prometheus = compose_services()["prometheus"]
    assert "--web.enable-lifecycle" not in prometheus.get("command", [])


def test_alerts_are_routed_to_the_mail_sink():
    services = compose_services()
    assert "alertmanager" in services and "grafana" in services
    alerting = yaml.safe_load(PROMETHEUS_FILE.read_text())["alerting"]["alertmanagers"]
    targets = {t for am in alerting for sc in am["static_configs"] for t in sc["targets"]}
    assert targets == {"alertmanager:9093"}
    config = yaml.safe_load((ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text())
    host, _, port = config["global"]["smtp_smarthost"].partition(":")
    assert host == "mailsink" and port == env_of(services["mailsink"])["SMTP_PORT"]
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers[config["route"]["receiver"]]["email_configs"][0]["to"]
    assert all(route["receiver"] in receivers for route in config["route"].get("routes", []))
    volumes = [str(v) for v in services["grafana"]["volumes"]]
    assert any(v.endswith(":/var/lib/grafana") for v in volumes), "Grafana keeps its data in a volume"


def test_images_have_exact_versions():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name, container in compose_services().items():
        image = container.get("image", "")
        repository, _, tag = image.rpartition(":")
        # PostgreSQL's releases have two numbers (16.4); everything else three.
        exact = r"^\d+\.\d+(-|$)" if repository == "postgres" else r"^v?\d+\.\d+\.\d+(-|$)"
        assert re.match(exact, tag), f"'{name}' image {image!r} needs an exact version tag"
        if repository == "learnadmin":
            assert tag == version, f"'{name}' runs learnadmin:{tag}, the release is {version}"
