"""Issue 11 (item 2): a secret is injected only where it is used, in compose and
Kubernetes alike: JWT_PRIVATE_KEY into identity alone (it signs access tokens;
the gateway verifies with public keys), UNSUBSCRIBE_SECRET into messaging, each
process's broker password into that process (and the broker-users job) only,
AUDIT_CHECKPOINT_SECRET into audit."""
import pytest

from tests.deploy.test_compose import command_of, compose_services, env_of, k8s_documents

USED_BY = {"JWT_PRIVATE_KEY": {"identity"}, "JWT_SECRET": set(), "UNSUBSCRIBE_SECRET": {"messaging"},
           "AUDIT_CHECKPOINT_SECRET": {"audit"}, "SSO_SECRET_KEY": {"identity"}}
PROCESSES = ("identity", "programs", "invitations", "messaging", "audit", "gateway")


def k8s_env(name: str) -> set[str]:
    deployment = next(d for d in k8s_documents() if d.get("kind") == "Deployment" and d["metadata"]["name"] == name)
    return {e["name"] for c in deployment["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])}


@pytest.mark.parametrize("secret", sorted(USED_BY))
def test_a_secret_reaches_only_the_processes_that_use_it(secret):
    services = compose_services()
    in_compose = {name for name in PROCESSES if env_of(services[name]).get(secret)}
    assert in_compose == USED_BY[secret], f"docker-compose.yml gives {secret} to {sorted(in_compose)}"
    in_k8s = {name for name in PROCESSES if secret in k8s_env(name)}
    assert in_k8s == USED_BY[secret], f"deploy/k8s gives {secret} to {sorted(in_k8s)}"


@pytest.mark.parametrize("process", PROCESSES)
def test_each_process_connects_to_the_broker_as_its_own_user(process):
    """Issue 11 item 2: no shared broker user; a process's broker password reaches it (and the
    broker-users job) only."""
    from urllib.parse import urlsplit

    from servicekit import config

    services = compose_services()
    broker = urlsplit(env_of(services[process])["BROKER_URL"])
    variable = f"{process.upper()}_BROKER_PASSWORD"
    assert broker.username == config.broker_user(process), f"compose: {process} connects as {broker.username}"
    assert broker.password == f"env-{variable}", f"compose: {process}'s broker password must be ${{{variable}:?}}"
    others = [name for name in PROCESSES
              if name != process and variable in env_of(services[name]).get("BROKER_URL", "")]
    assert not others, f"compose gives {variable} to {others}"
    assert variable in env_of(services["broker-users"]), f"the broker-users job needs {variable}"
    in_k8s = {name for name in PROCESSES if variable in k8s_env(name)}
    assert in_k8s == {process}, f"deploy/k8s gives {variable} to {sorted(in_k8s)}"
    job = next(d for d in k8s_documents()
               if d.get("kind") == "Job" and d["metadata"]["name"] == "learnadmin-broker-users")
    assert variable in {e["name"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_only_the_broker_users_job_holds_the_broker_admin():
    services = compose_services()
    holders = {name for name, service in services.items()
               if any("RABBITMQ_PASSWORD" in str(value) or "RABBITMQ_MANAGEMENT_URL" == key
                      for key, value in env_of(service).items())}
    assert holders <= {"broker-users", "rabbitmq"}, holders
    assert command_of(services["broker-users"]) == "python -m servicekit.broker_users"


def test_the_report_link_secret_reaches_reporting_only():
    """REPORT_LINK_SECRET signs report links and export tickets: reporting alone holds it (compose, Kubernetes)."""
    services = compose_services()
    holders = {name for name, service in services.items() if env_of(service).get("REPORT_LINK_SECRET")}
    assert holders == {"reporting"}, f"docker-compose.yml gives REPORT_LINK_SECRET to {sorted(holders)}"
    in_k8s = {d["metadata"]["name"] for d in k8s_documents() if d.get("kind") == "Deployment"
              and "REPORT_LINK_SECRET" in k8s_env(d["metadata"]["name"])}
    assert in_k8s == {"reporting"}, f"deploy/k8s gives REPORT_LINK_SECRET to {sorted(in_k8s)}"
