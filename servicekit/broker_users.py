"""Least privilege on the broker: one RabbitMQ user per process (every service
and the gateway), allowed only what that process does (issue 11 item 2).

    python -m servicekit.broker_users                 # create/update the users and their permissions
    python -m servicekit.broker_users --vhost /prod   # ... in another vhost
    python -m servicekit.broker_users --print         # the rabbitmqctl commands instead (nothing changed)

Who may do what is derived, not hand-written per user:

* the processes are the Procfile's `servicekit.run <module>:<Class>` entries
  (a new service listed there gets its user with no edit here);
* what a process **consumes** comes from its class: its `@handle_event`
  handlers (source exchange + event type) and its `@rpc` methods (its own
  `rpc-<name>` queue);
* what it **publishes**: its own `<name>.events` exchange (the outbox relay),
  routing keys `<name>.*` only;
* which RPCs it may **call** is `RPC_CALLS` below, the one declared table:
  `tests/kit/test_broker_users.py` scans the code for the calls each process
  makes through its `ServiceRpc` proxies and fails when the table and the code
  differ (add the method here when you call a new one).

Each user gets, in the vhost (regexes on exchange and queue names):
configure its own queues (`rpc-<name>`, `rpc.reply-<name>-*`,
`evt-*--<name>.*`) and the exchanges it declares (`nameko-rpc`, its own and
its sources' `*.events`); write on `nameko-rpc`, its own events exchange and
its own queues (binding); read on `nameko-rpc`, its sources' exchanges and its
own queues. Topic permissions then narrow the routing keys: on `nameko-rpc` it
may publish only the `service.method` keys of `RPC_CALLS` (and RPC replies,
whose routing key is the caller's random reply-queue UUID) and bind only its
own `<name>.*` and reply UUIDs (so no one can bind a queue to another
service's requests and read them); on its own events exchange it may publish
only `<name>.*` event types; on a source's events exchange it may bind only
the event types it handles. RabbitMQ refuses anything else with
ACCESS_REFUSED (the channel is closed; the call fails, nothing is minted).

Known limits: a consumer holds `configure` on `nameko-rpc` and on the events
exchanges it consumes (nameko declares them on start), so a compromised
service could delete one of those exchanges (a denial of service that the
processes' reconnects repair; not a way to call or read anything).
"""
import argparse
import ast
import importlib
import json
import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from servicekit import config

ROOT = Path(__file__).resolve().parent.parent
RPC_EXCHANGE = "nameko-rpc"
# nameko's reply routing key: the reply queue's uuid4 (nameko.rpc.ReplyListener).
REPLY_KEY = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
MANAGEMENT_URL = "http://guest:guest@127.0.0.1:15672/api"

# caller -> target service -> the RPC methods it calls (checked against the code by
# tests/kit/test_broker_users.py). Only what is listed here can be published on
# nameko-rpc by the caller's broker user: `identity.issue_tokens` and `add_admin`
# are reachable from the gateway (login, admin routes) and invitations (accepting) only.
RPC_CALLS: dict[str, dict[str, tuple[str, ...]]] = {
    "gateway": {
        "audit": ("export_csv", "list_entries", "ping"),
        "identity": (
            "add_admin", "authenticate_api_token", "confirm_password_reset", "create_api_token",
            "get_organization", "get_person", "get_user", "jwks", "list_admins", "list_api_tokens", "list_people",
            "login",
            "logout", "ping", "refresh", "remove_admin", "request_password_reset", "resend_verification",
            "revoke_api_token", "signup", "token_version", "update_organization", "update_person", "verify_email",
            # SCIM (gateway/routes/scim.py)
            "list_scim_group_mappings", "remove_scim_group_mapping", "scim_create_group", "scim_create_user",
            "scim_delete_group", "scim_delete_user", "scim_get_group", "scim_get_user", "scim_list_groups",
            "scim_list_users", "scim_patch_group", "scim_patch_user", "scim_replace_group", "scim_replace_user",
            "set_scim_group_mapping",
            # single sign-on (docs/sso.md)
            "add_sso_domain", "begin_sso", "check_sso_domain", "create_sso_connection", "delete_sso_connection",
            "delete_sso_domain", "finish_oidc", "get_sso_connection", "get_sso_domain", "get_sso_policy",
            "list_sso_connections", "list_sso_domains",
            "finish_saml", "redeem_sso_handoff", "saml_metadata", "set_sso_policy", "sso_options",
            "update_sso_connection",
        ),
        "invitations": (
            "accept", "create_invitation", "get_import", "invitation_page", "join_by_program",
            "list_invitations", "locate_import", "locate_invitation", "ping", "preview_invitation",
            "rejected_csv", "resend_invitation", "resend_pending", "revoke_invitations", "start_import",
        ),
        "messaging": (
            "count_audience", "create_message", "describe_unsubscribe", "discard_message", "get_message",
            "get_preferences", "list_messages", "locate_message", "ping", "presets", "preview_message",
            "remind_enroll", "send_message", "set_preferences", "unsubscribe", "update_message",
        ),
        "programs": (
            "add_collection_items", "create_collection", "create_contract", "create_program",
            "delete_collection", "enroll", "find_program_by_slug", "get_contract", "get_program",
            "list_collections", "list_contracts", "list_members", "list_programs", "locate_collection",
            "locate_contract", "locate_program", "membership_state", "missing_programs", "my_enrollments",
            "my_programs", "person_in_org", "person_in_programs", "ping", "remove_collection_item", "remove_member",
            "remove_program", "search_courses", "search_specializations", "update_collection",
            "update_contract", "update_program",
            "join_program", "program_with_contract",  # single sign-on's auto-join, SCIM mappings checked
        ),
        "reporting": ("email_report", "funnel", "ingest_activity", "ingest_xapi", "open_report_link", "ping",
                      "report_export", "summary"),
        "skills": (
            "assessments", "benchmark", "benchmark_over_time", "distribution", "glossary", "hours",
            "hours_to_mastery", "leaderboard", "mastery_over_time", "ping", "relevant_courses",
        ),
    },
    "invitations": {
        "identity": ("account_for_invitation", "ensure_people", "ensure_person", "find_user", "get_organization",
                     "issue_tokens"),
        "programs": ("get_contract", "get_program", "join_program", "locate_program", "membership_state",
                     "program_with_contract"),
    },
    "programs": {
        "identity": ("get_person",),
    },
    "messaging": {
        "reporting": ("active_learners", "course_completers"),  # the activity audience presets
    },
    "reporting": {
        # catalog reference data; collections' names (Enrollment Source) reporting saw no event of
        "programs": ("collection_names", "find_courses", "get_courses", "get_specializations"),
    },
}


# ---- the processes and what they do --------------------------------------------------------------


@dataclass
class Process:
    name: str                      # the nameko service name = the broker user's suffix
    class_path: str                # "services.identity.service:IdentityService"
    serves_rpc: bool = False
    publishes: bool = False        # has an outbox: publishes on `<name>.events`
    consumes: dict[str, set[str]] = field(default_factory=dict)  # source -> event types
    calls: dict[str, tuple[str, ...]] = field(default_factory=dict)


def procfile_classes(procfile: Path = ROOT / "Procfile") -> list[str]:
    """`module:Class` of every `servicekit.run` process of the Procfile."""
    found = []
    for line in procfile.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        argv = shlex.split(line.partition(":")[2])
        if "servicekit.run" in argv:
            found.append(argv[argv.index("servicekit.run") + 1])
    return found


def describe(class_path: str) -> Process:
    """What a service class does on the broker, read from its entrypoints and dependencies."""
    from nameko.events import EventHandler
    from nameko.rpc import Rpc

    from servicekit.db import Database

    module_name, _, attr = class_path.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    process = Process(name=cls.name, class_path=class_path, calls=dict(RPC_CALLS.get(cls.name, {})))
    for name in dir(cls):
        member = getattr(cls, name, None)
        if isinstance(member, Database):
            process.publishes = True
        for entrypoint in getattr(member, "nameko_entrypoints", ()):
            if isinstance(entrypoint, EventHandler):
                process.consumes.setdefault(entrypoint.source_service, set()).add(entrypoint.event_type)
            elif isinstance(entrypoint, Rpc):
                process.serves_rpc = True
    return process


def processes() -> list[Process]:
    return [describe(path) for path in procfile_classes()]


# ---- the permissions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    user: str
    configure: str
    write: str
    read: str
    topics: tuple[tuple[str, str, str], ...]  # (exchange, write regex, read regex)


def _alternatives(names) -> str:
    return "|".join(sorted(names))


def grant(process: Process) -> Grant:
    name = re.escape(process.name)
    own_queues = [f"rpc-{name}", rf"rpc\.reply-{name}-.*", f"evt-.*--{name}\\..*"]
    sources = sorted(process.consumes)
    source_exchanges = [re.escape(f"{source}.events") for source in sources]
    own_exchange = [re.escape(f"{process.name}.events")] if process.publishes else []
    exchanges = [re.escape(RPC_EXCHANGE), *own_exchange]
    calls = [re.escape(f"{target}.{method}") for target, methods in sorted(process.calls.items())
             for method in methods]
    topics = [(RPC_EXCHANGE, f"^({_alternatives([*calls, REPLY_KEY])})$",
               f"^({_alternatives([REPLY_KEY] + ([re.escape(f'{process.name}.*')] if process.serves_rpc else []))})$")]
    # one entry per exchange (a later one would replace an earlier): a process may consume its own events too
    events: dict[str, list[str]] = {}
    if process.publishes:
        events[process.name] = [f"^{name}\\..+$", "^$"]
    for source in sources:
        keys = [re.escape(event_type) for event_type in process.consumes[source]]
        events.setdefault(source, ["^$", "^$"])[1] = f"^({_alternatives(keys)})$"
    topics += [(f"{source}.events", write, read) for source, (write, read) in events.items()]
    return Grant(
        user=config.broker_user(process.name),
        configure=f"^({_alternatives([*exchanges, *source_exchanges, *own_queues])})$",
        write=f"^({_alternatives([*exchanges, *own_queues])})$",
        read=f"^({_alternatives([re.escape(RPC_EXCHANGE), *source_exchanges, *own_queues])})$",
        topics=tuple(topics),
    )


def grants() -> list[Grant]:
    return [grant(process) for process in processes()]


# ---- applying them -----------------------------------------------------------------------------


def _management(url: str):
    """(base URL without credentials, (user, password))."""
    parts = urlsplit(url)
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", "")), (parts.username or "guest",
                                                                                 parts.password or "guest")


def apply(vhost: str, management_url: str | None = None, environ=None) -> list[Grant]:
    """Create or update every process's user (password: config.broker_password)
    and set its permissions in `vhost` (which must exist). Idempotent."""
    import requests

    base, auth = _management(management_url or config.env("RABBITMQ_MANAGEMENT_URL", MANAGEMENT_URL))
    vh = quote(vhost, safe="")
    done = []
    for process in processes():
        item = grant(process)
        password = config.broker_password(process.name, environ)
        user = quote(item.user, safe="")
        requests.put(f"{base}/users/{user}", auth=auth, timeout=10,
                     json={"password": password, "tags": ""}).raise_for_status()
        requests.put(f"{base}/permissions/{vh}/{user}", auth=auth, timeout=10,
                     json={"configure": item.configure, "write": item.write, "read": item.read}).raise_for_status()
        wanted = {exchange for exchange, _, _ in item.topics}
        existing = requests.get(f"{base}/users/{user}/topic-permissions", auth=auth, timeout=10)
        if existing.ok:
            for old in existing.json():
                if old["vhost"] == vhost and old["exchange"] not in wanted:  # a consumer that went away
                    requests.delete(f"{base}/topic-permissions/{vh}/{user}", auth=auth, timeout=10,
                                    json={"exchange": old["exchange"]})
        for exchange, write, read in item.topics:
            requests.put(f"{base}/topic-permissions/{vh}/{user}", auth=auth, timeout=10,
                         json={"exchange": exchange, "write": write, "read": read}).raise_for_status()
        done.append(item)
    return done


def rabbitmqctl_commands(vhost: str) -> list[str]:
    """The same setup as rabbitmqctl commands (passwords read from the environment when run)."""
    lines = []
    for process in processes():
        item = grant(process)
        variable = f"{process.name.upper()}_BROKER_PASSWORD"
        lines.append(f'rabbitmqctl add_user {shlex.quote(item.user)} "${variable}" 2>/dev/null || '
                     f'rabbitmqctl change_password {shlex.quote(item.user)} "${variable}"')
        lines.append(f"rabbitmqctl set_permissions -p {shlex.quote(vhost)} {shlex.quote(item.user)} "
                     f"{shlex.quote(item.configure)} {shlex.quote(item.write)} {shlex.quote(item.read)}")
        for exchange, write, read in item.topics:
            lines.append(f"rabbitmqctl set_topic_permissions -p {shlex.quote(vhost)} {shlex.quote(item.user)} "
                         f"{shlex.quote(exchange)} {shlex.quote(write)} {shlex.quote(read)}")
    return lines


# ---- checking the table against the code (tests/kit/test_broker_users.py) ----------------------


def _package_dir(class_path: str) -> Path:
    parts = class_path.partition(":")[0].split(".")
    return ROOT.joinpath(*parts[:2]) if parts[0] == "services" else ROOT / parts[0]


def calls_in_code(package: Path) -> dict[str, set[str]]:
    """The RPC methods a package calls, target -> methods: every `X.method`
    (called or passed on) where X names one of the package's
    `ServiceRpc("target")` proxies (`target`, `self.target`, `target_rpc`, also
    through `.with_timeout(...)` / `.with_long_timeout()`, or handed on as
    `f(other=self.target)` / `other = self.target`), and
    `getattr(self, name).method` on all of them."""
    files = [path for path in package.rglob("*.py") if "tests" not in path.relative_to(package).parts]
    trees = [ast.parse(path.read_text(), str(path)) for path in files]
    targets = set()
    for tree in trees:
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and _name(node.func) == "ServiceRpc" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                targets.add(node.args[0].value)
    names = {name: target for target in targets for name in (target, f"{target}_rpc")}
    # a proxy handed on under another name: `f(activity=self.reporting)`, `peer = self.programs`
    def proxy(node) -> str | None:  # `self.target` or `target`
        if isinstance(node, ast.Name) and node.id in targets:
            return node.id
        if isinstance(node, ast.Attribute) and node.attr in targets and _name(node.value) == "self":
            return node.attr
        return None

    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg and proxy(node.value):
                names.setdefault(node.arg, proxy(node.value))
            elif (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                  and proxy(node.value)):
                names.setdefault(node.targets[0].id, proxy(node.value))
    found: dict[str, set[str]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            # a method called, or passed on (`retrying_race(self.identity.ensure_person, ...)`)
            if not isinstance(node, ast.Attribute):
                continue
            method, receiver = node.attr, node.value
            if method in ("with_timeout", "with_long_timeout"):
                continue
            while (isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Attribute)
                   and receiver.func.attr in ("with_timeout", "with_long_timeout")):
                receiver = receiver.func.value
            if (isinstance(receiver, ast.Call) and _name(receiver.func) == "getattr" and receiver.args
                    and _name(receiver.args[0]) == "self"):  # getattr(self, service): any of them
                for target in targets:
                    found.setdefault(target, set()).add(method)
                continue
            target = names.get(_name(receiver))
            if target is not None:
                found.setdefault(target, set()).add(method)
    return found


def _name(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m servicekit.broker_users", description=__doc__.split("\n\n")[0])
    parser.add_argument("--vhost", default=None, help="default: the vhost of BROKER_URL ('/')")
    parser.add_argument("--management-url", default=None,
                        help=f"RabbitMQ management API with an admin's credentials "
                             f"(default: RABBITMQ_MANAGEMENT_URL, else {MANAGEMENT_URL})")
    parser.add_argument("--print", action="store_true", dest="print_only",
                        help="print the rabbitmqctl commands instead of applying them")
    parser.add_argument("--json", action="store_true", help="print the permissions as JSON")
    args = parser.parse_args(argv)
    vhost = args.vhost or config.broker_vhost()
    if args.print_only:
        print("\n".join(rabbitmqctl_commands(vhost)))
        return
    if args.json:
        print(json.dumps([item.__dict__ for item in grants()], indent=2))
        return
    for item in apply(vhost, args.management_url, os.environ):
        print(f"broker user {item.user}: permissions set in vhost {vhost!r}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
