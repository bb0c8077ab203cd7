"""Alerts go somewhere: deploy/alertmanager/alertmanager.yml passes amtool, and a
real Alertmanager (Debian's package) running that configuration delivers an
alert by email to the suite's mail sink (scripts.mailsink). Only the SMTP
address (the compose name `mailsink`) and the waiting times are changed for the
test; routes and receivers are the file's."""
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

from scripts import mailsink

ROOT = Path(__file__).resolve().parents[2]
ALERTMANAGER_FILE = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"


def tool(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(f"{names[0]} not found: `make setup` installs Debian's prometheus-alertmanager "
                "(scripts/ensure-infra.sh)", pytrace=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_amtool_accepts_the_configuration():
    result = subprocess.run([tool("amtool"), "check-config", str(ALERTMANAGER_FILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_critical_alert_reaches_the_mail_sink(tmp_path):
    binary = tool("prometheus-alertmanager", "alertmanager")
    config = yaml.safe_load(ALERTMANAGER_FILE.read_text())
    host, _, smtp_port = config["global"]["smtp_smarthost"].partition(":")
    assert host == "mailsink"
    smtp_port = free_port()
    config["global"]["smtp_smarthost"] = f"127.0.0.1:{smtp_port}"
    config["route"]["group_wait"] = "1s"
    for route in config["route"].get("routes", []):
        route.pop("group_wait", None)
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    mail_dir = tmp_path / "mail"
    sink = mailsink.start(mail_dir, port=smtp_port)
    port = free_port()
    log = open(tmp_path / "alertmanager.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'alertmanager.yml'}", f"--storage.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/api/v2/alerts"
        alert = [{"labels": {"alertname": "ServiceDown", "severity": "critical", "job": "identity"},
                  "annotations": {"summary": "identity target 10.0.0.7:9101 is down",
                                  "runbook_url": "docs/operations.md#servicedown"}}]
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.post(url, json=alert, timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, (tmp_path / "alertmanager.log").read_text()
            time.sleep(0.2)
        while not mailsink.read_messages(mail_dir):
            assert time.monotonic() < deadline + 20, (tmp_path / "alertmanager.log").read_text()
            time.sleep(0.2)
        (message,) = mailsink.read_messages(mail_dir)
        receiver = config["receivers"][0]["email_configs"][0]["to"]
        assert receiver in message["To"] and "ServiceDown" in message["Subject"]
        assert "X-Envelope-To: " + receiver in message.as_string()
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
        sink.stop()
