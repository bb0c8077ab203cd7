"""The whole suite as real processes, for end-to-end tests.

Starts every process of the Procfile (services, gateway, SMTP sink) against
fresh `e2e_*` databases and a private RabbitMQ vhost, waits until the gateway
is ready, and stops everything afterwards."""
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

from servicekit import config

ROOT = Path(__file__).resolve().parents[2]
MANAGEMENT = "http://127.0.0.1:15672/api"
AUTH = ("guest", "guest")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


TEST_PROXY = "127.0.0.2"



def stop_processes(processes) -> None:
    """Terminate the processes still running, then wait for each (kill after 15 s)."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

class Suite:
    def __init__(self, workdir: Path, broker_port: int = 5672, env: dict | None = None, console: bool = False):
        """`broker_port`: where the processes reach RabbitMQ (a TcpProxy in fault
        tests); `env`: more environment for every process; `console`: start the web
        console too, and make it PUBLIC_URL (every emailed link opens a console page)."""
        self.workdir = workdir
        run = uuid.uuid4().hex[:8]
        self.vhost = f"e2e-{run}"
        self.db_prefix = f"e2e{run}_"  # parallel runs never share databases
        self.port = free_port()
        self.smtp_port = free_port()
        self.mail_dir = workdir / "mail"
        self.logs = workdir / "logs"
        self.processes: dict[str, subprocess.Popen] = {}
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.with_console = console
        self.console_port = free_port()
        self.console_url = f"http://127.0.0.1:{self.console_port}"
        # identity's name server for domain verification (docs/sso.md): a test that needs
        # answers runs tests/support/dns_server.py on this port (UDP); nothing answers otherwise
        self.dns_port = free_port()
        self.env = dict(
            os.environ,
            BROKER_URL=f"amqp://guest:guest@127.0.0.1:{broker_port}/{self.vhost}",
            DATABASE_PREFIX=self.db_prefix,
            WEB_SERVER_ADDRESS=f"127.0.0.1:{self.port}",
            PUBLIC_URL=self.console_url if console else self.base_url,
            CONSOLE_ADDRESS=f"127.0.0.1:{self.console_port}",
            GATEWAY_URL=self.base_url,
            OPS_PORT="0",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(self.smtp_port),
            MAILSINK_DIR=str(self.mail_dir),
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
            # A stand-in reverse proxy: requests sent from 127.0.0.2 are a trusted proxy's,
            # their X-Forwarded-For believed (tests/e2e/test_identity_trust.py); 127.0.0.1 is a client.
            TRUSTED_PROXIES=TEST_PROXY,
            SSO_DNS_NAMESERVERS=f"127.0.0.1:{self.dns_port}",
            SSO_DNS_TIMEOUT_SECONDS="1",
        )
        self.env.update(env or {})

    def database_url(self, service: str) -> str:
        base = config.env("DATABASE_BASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432")
        return f"{base}/{self.db_prefix}{service}"

    def start(self) -> "Suite":
        requests.put(f"{MANAGEMENT}/vhosts/{self.vhost}", auth=AUTH, timeout=10).raise_for_status()
        requests.put(f"{MANAGEMENT}/permissions/{self.vhost}/guest", auth=AUTH, timeout=10,
                     json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
        # Least privilege as in production: every process connects as its own
        # broker user (servicekit.config.broker_url(service)) with only the
        # permissions servicekit.broker_users grants it in this vhost. `guest`
        # (the tests' own clients, BROKER_URL) keeps every right.
        subprocess.run([sys.executable, "-m", "servicekit.broker_users", "--vhost", self.vhost],
                       env=self.env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([sys.executable, "-m", "tests.support.fresh_databases"], env=self.env, cwd=ROOT, check=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        for name, command in procfile().items():
            if name == "console" and not self.with_console:
                continue
            argv = shlex.split(command)
            if argv[0] == "python":
                argv[0] = sys.executable
            log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
            self.processes[name] = subprocess.Popen(argv, env=self.env, cwd=ROOT, stdout=log,
                                                    stderr=subprocess.STDOUT)
        try:
            self.wait_ready()
        except BaseException:
            self.stop()  # leave no process behind
            raise
        return self

    @property
    def services(self) -> list[str]:
        """The Procfile's nameko services (not the gateway, not the mail sink)."""
        return [name for name, command in procfile().items() if " services." in command]

    def serving(self, service: str, timeout: float = 2) -> bool:
        """The service answers its `ping` RPC: the process is up and consuming."""
        from nameko.exceptions import RpcTimeout, UnknownService
        from nameko.standalone.rpc import ServiceRpcProxy

        try:
            with ServiceRpcProxy(service, {"AMQP_URI": self.env["BROKER_URL"]}, timeout=timeout) as proxy:
                return proxy.ping() == "pong"
        except (RpcTimeout, UnknownService):  # not answering, or its queue not declared yet
            return False

    def wait_ready(self, timeout: float = 90) -> None:
        """The gateway is ready (it follows the broker) and every service answers."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited early:\n{self.log(name)[-3000:]}")
            try:
                last = requests.get(f"{self.base_url}/readyz", timeout=3)
                waiting = [service for service in self.services if not self.serving(service)]
                if waiting:
                    last = f"not answering yet: {waiting}"
                elif self.with_console and requests.get(f"{self.console_url}/healthz", timeout=3).status_code != 200:
                    last = "console not answering yet"
                elif last.status_code == 200:
                    return
            except requests.RequestException as exc:
                last = exc
            time.sleep(0.5)
        raise RuntimeError(f"suite not ready: {getattr(last, 'text', last)}")

    def ops_url(self, name: str, timeout: float = 30) -> str:
        """Base URL of a process's ops port (/metrics, /healthz, /readyz): the
        suite binds any free port (OPS_PORT=0); each process logs the one it got."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.findall(r"ops endpoints on port (\d+)", self.log(name))
            if found:
                return f"http://127.0.0.1:{found[-1]}"
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} logged no ops port")
            time.sleep(0.2)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        stop_processes(self.processes.values())
        requests.delete(f"{MANAGEMENT}/vhosts/{self.vhost}", auth=AUTH, timeout=10)
        subprocess.run([sys.executable, "-m", "tests.support.fresh_databases", "--drop"], env=self.env, cwd=ROOT)

    def restart(self, name: str) -> None:
        """Kill one process (kill -9, as a crash would) and start it again."""
        process = self.processes[name]
        process.kill()
        process.wait()
        argv = shlex.split(procfile()[name])
        if argv[0] == "python":
            argv[0] = sys.executable
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115
        self.processes[name] = subprocess.Popen(argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
