"""Issue 11 (item 2, part): a secret is injected only where it is used, in
compose and Kubernetes alike: JWT_SECRET into identity (signs access tokens)
and the gateway (verifies them), UNSUBSCRIBE_SECRET into messaging."""
import pytest

from tests.deploy.test_compose import compose_services, env_of, k8s_documents

USED_BY = {"JWT_SECRET": {"identity", "gateway"}, "UNSUBSCRIBE_SECRET": {"messaging"}}
PROCESSES = ("identity", "programs", "invitations", "messaging", "gateway")


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
