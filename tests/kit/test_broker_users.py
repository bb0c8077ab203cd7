"""Issue 11 item 2: the broker users' permissions are derived from the code
(servicekit.broker_users), and the one declared table, RPC_CALLS, cannot drift
from the RPC calls the code really makes."""
import re

import pytest

from servicekit import broker_users, config
from servicekit.config import ConfigError


def _package(class_path: str):
    return broker_users._package_dir(class_path)


def test_every_process_of_the_procfile_has_a_user():
    names = {process.name for process in broker_users.processes()}
    assert {"identity", "programs", "invitations", "messaging", "gateway"} <= names
    assert names - {"gateway"} <= set(config.service_names())


@pytest.mark.parametrize("class_path", broker_users.procfile_classes())
def test_the_declared_rpc_calls_are_exactly_the_calls_in_the_code(class_path):
    process = broker_users.describe(class_path)
    in_code = {target: tuple(sorted(methods))
               for target, methods in broker_users.calls_in_code(_package(class_path)).items()}
    declared = {target: tuple(sorted(methods))
                for target, methods in broker_users.RPC_CALLS.get(process.name, {}).items()}
    assert declared == in_code, (
        f"servicekit.broker_users.RPC_CALLS[{process.name!r}] must list exactly the RPCs {process.name} calls "
        f"(its broker user may publish nothing else): in the code {in_code}, declared {declared}")


def test_the_scan_sees_calls_through_every_shape_of_proxy(tmp_path):
    (tmp_path / "mod.py").write_text(
        "from servicekit.rpc import ServiceRpc\n"
        "class S:\n"
        "    identity = ServiceRpc('identity')\n"
        "    programs = ServiceRpc('programs')\n"
        "    def a(self, identity_rpc, invitations):\n"
        "        self.identity.issue_tokens(1)\n"
        "        identity_rpc.token_version(1)\n"
        "        self.programs.with_long_timeout().remove_program(1)\n"
        "        getattr(self, 'x').with_timeout(2).ping()\n"
        "        invitations.append(1)  # not a proxy of this package\n"
        "        retry(self.identity.ensure_person, 1)  # passed on, called elsewhere\n"
        "        audience(1, activity=self.programs)\n"
        "        getattr(Model, 'column').is_(True)  # not a proxy\n"
        "        now = rows[0].programs  # not a proxy either\n"
        "        now.timestamp()\n"
        "def audience(q, activity):\n"
        "    return activity.active_learners(q)\n")
    assert broker_users.calls_in_code(tmp_path) == {
        "identity": {"issue_tokens", "token_version", "ping", "ensure_person"},
        "programs": {"remove_program", "ping", "active_learners"}}


def _callers_of(method: str) -> set[str]:
    return {caller for caller, targets in broker_users.RPC_CALLS.items() if method in targets.get("identity", ())}


def test_only_invitations_may_mint_tokens_for_a_user_id_and_only_the_gateway_adds_admins():
    """`issue_tokens(user_id)` (tokens without credentials) is called by invitations only (accepting
    an invitation signs the new member in); the gateway gets tokens by `login` and `refresh` (credentials
    checked by identity), so its user may not call `issue_tokens` either."""
    assert _callers_of("issue_tokens") == {"invitations"}
    assert _callers_of("add_admin") == {"gateway"}
    assert _callers_of("login") == {"gateway"}
    grants = {item.user: item for item in broker_users.grants()}
    for name in ("gateway", "invitations", "messaging", "programs", "identity"):
        rpc_write = dict((exchange, write) for exchange, write, _ in grants[config.broker_user(name)].topics)
        assert (re.fullmatch(rpc_write["nameko-rpc"], "identity.issue_tokens") is not None) == (name == "invitations")
        assert (re.fullmatch(rpc_write["nameko-rpc"], "identity.add_admin") is not None) == (name == "gateway")


def test_a_process_may_publish_only_its_own_events_and_bind_only_what_it_handles():
    messaging = next(item for item in broker_users.grants() if item.user == config.broker_user("messaging"))
    assert re.fullmatch(messaging.write, "messaging.events") and not re.fullmatch(messaging.write, "identity.events")
    assert not re.fullmatch(messaging.write, "rpc-identity")
    topics = {exchange: (write, read) for exchange, write, read in messaging.topics}
    assert re.fullmatch(topics["messaging.events"][0], "messaging.message.sent.v1")
    assert not re.fullmatch(topics["messaging.events"][0], "programs.member.joined.v1")
    assert re.fullmatch(topics["programs.events"][1], "programs.member.joined.v1")
    assert not re.fullmatch(topics["programs.events"][1], "#")
    assert re.fullmatch(topics["nameko-rpc"][1], "messaging.*")
    assert not re.fullmatch(topics["nameko-rpc"][1], "identity.*")


def test_each_process_connects_with_its_own_user(monkeypatch):
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.setenv("BROKER_URL", "amqp://guest:guest@rabbit.example:5673/prod")
    monkeypatch.delenv("PROGRAMS_BROKER_URL", raising=False)
    monkeypatch.delenv("PROGRAMS_BROKER_PASSWORD", raising=False)
    assert config.broker_url("programs") == (
        f"amqp://learnadmin-programs:{config.dev_broker_password('programs')}@rabbit.example:5673/prod")
    monkeypatch.setenv("PROGRAMS_BROKER_PASSWORD", "s3cret/with:odd@chars-and-long")
    assert config.broker_url("programs") == (
        "amqp://learnadmin-programs:s3cret%2Fwith%3Aodd%40chars-and-long@rabbit.example:5673/prod")
    monkeypatch.setenv("PROGRAMS_BROKER_URL", "amqp://p:q@elsewhere:5672/")
    assert config.broker_url("programs") == "amqp://p:q@elsewhere:5672/"
    assert config.broker_url() == "amqp://guest:guest@rabbit.example:5673/prod"  # operators' tools
    assert config.broker_vhost() == "prod"


def test_outside_development_a_process_needs_its_broker_password(monkeypatch):
    monkeypatch.delenv("APP_ENV", raising=False)
    monkeypatch.delenv("MESSAGING_BROKER_URL", raising=False)
    monkeypatch.delenv("MESSAGING_BROKER_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="MESSAGING_BROKER_PASSWORD must be set"):
        config.broker_url("messaging")
    monkeypatch.setenv("MESSAGING_BROKER_PASSWORD", config.dev_broker_password("messaging"))
    with pytest.raises(ConfigError, match="too weak"):
        config.broker_url("messaging")
    monkeypatch.setenv("MESSAGING_BROKER_PASSWORD", "a-real-random-password-0123456789")
    assert "learnadmin-messaging:a-real-random-password-0123456789@" in config.broker_url("messaging")


def test_the_rabbitmqctl_form_sets_the_same_permissions():
    lines = broker_users.rabbitmqctl_commands("/")
    assert any(line.startswith("rabbitmqctl set_topic_permissions -p / learnadmin-gateway nameko-rpc")
               for line in lines)
    assert sum(line.startswith("rabbitmqctl set_permissions") for line in lines) == len(broker_users.grants())


def test_a_process_that_handles_its_own_events_may_still_publish_them():
    consumes = {"audit": {"audit.entry.added.v1"}, "identity": {"identity.org.created.v1"}}
    process = broker_users.Process(name="audit", class_path="x:Y", serves_rpc=True, publishes=True, consumes=consumes)
    topics = {}
    for exchange, write, read in broker_users.grant(process).topics:
        assert exchange not in topics, f"two topic permissions for {exchange}: the second would replace the first"
        topics[exchange] = (write, read)
    assert re.fullmatch(topics["audit.events"][0], "audit.entry.added.v1")
    assert re.fullmatch(topics["audit.events"][1], "audit.entry.added.v1")
    assert not re.fullmatch(topics["identity.events"][0], "identity.org.created.v1")


def test_outside_development_a_process_without_its_broker_password_does_not_start():
    import os
    import subprocess
    import sys

    environ = {k: v for k, v in os.environ.items() if k not in ("APP_ENV", "PROGRAMS_BROKER_PASSWORD")}
    started = subprocess.run([sys.executable, "-m", "servicekit.run", "services.programs.service:ProgramsService"],
                             env=environ, cwd=broker_users.ROOT, capture_output=True, text=True, timeout=60)
    assert started.returncode != 0 and "PROGRAMS_BROKER_PASSWORD must be set" in started.stderr
