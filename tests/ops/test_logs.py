"""Logs: one line per call; an expected refusal is INFO without a traceback,
ERROR means a defect (with its traceback) or an outage; no personal data
(SQL parameters, emails) in log records. Real nameko container on RabbitMQ."""
import io
import json
import logging
import sys

import pytest
from nameko.rpc import rpc
from nameko.standalone.rpc import ServiceRpcProxy
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from contracts.errors import AppError, ErrorCode
from servicekit import logs
from servicekit.db import make_engine
from servicekit.observability import Observability

PERSON = {"email": "alice@example.com", "name": "Alice Liddell"}


class LogDemo:
    name = "logdemo"
    observability = Observability(serve_ops=False)

    @rpc(expected_exceptions=AppError)
    def refuse(self, email):
        raise AppError(ErrorCode.NOT_FOUND, f"no person {email}")

    @rpc(expected_exceptions=AppError)
    def crash(self):
        raise ValueError("a defect")

    @rpc(expected_exceptions=AppError)
    def unavailable(self):
        raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "identity did not answer in time")

    @rpc
    def ping(self):
        return "pong"

    ping.quiet = True  # as ServiceBase.ping: the gateway pings every 5 s


@pytest.fixture
def json_lines(monkeypatch):
    """servicekit.logs as every process configures it, writing to a buffer."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buffer)
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    logs.configure("logdemo")
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    root.handlers[:], level = saved
    root.setLevel(level)


def test_refusals_are_info_defects_and_outages_error(container_factory, rabbit_config, json_lines):
    container = container_factory(LogDemo, rabbit_config)
    container.start()
    with ServiceRpcProxy("logdemo", rabbit_config) as proxy:
        for call in (lambda: proxy.refuse("alice@example.com"), proxy.crash, proxy.unavailable):
            with pytest.raises(Exception):  # noqa: B017 - each raises its own kind
                call()
        assert proxy.ping() == "pong"
    container.stop()
    lines = [line for line in json_lines() if line.get("service") == "logdemo"]
    by_entrypoint = {}
    for line in lines:
        by_entrypoint.setdefault(line.get("entrypoint"), []).append(line)
    # nameko's "error handling worker" lines (with tracebacks) are gone: one line per call.
    assert not [line for line in lines if "error handling worker" in line["message"]], lines
    (refused,) = by_entrypoint["refuse"]
    assert (refused["level"], refused["outcome"]) == ("INFO", "NOT_FOUND") and "exc" not in refused
    (crashed,) = by_entrypoint["crash"]
    assert (crashed["level"], crashed["outcome"], crashed["error_class"]) == ("ERROR", "INTERNAL", "ValueError")
    assert "ValueError: a defect" in crashed["exc"]
    (outage,) = by_entrypoint["unavailable"]
    assert (outage["level"], outage["outcome"]) == ("ERROR", "SERVICE_UNAVAILABLE") and "exc" not in outage
    assert "alice@example.com" not in json.dumps(lines)
    assert "ping" not in by_entrypoint, "a health ping that succeeds is not logged at INFO"
    assert not [line for line in lines if line["level"] == "ERROR" and line.get("entrypoint") == "refuse"]
    # The error counter's label is the bounded code, never an exception class.
    for code in ("NOT_FOUND", "INTERNAL", "SERVICE_UNAVAILABLE"):
        assert REGISTRY.get_sample_value("learnadmin_entrypoint_errors_total", {
            "service": "logdemo", "entrypoint": {"NOT_FOUND": "refuse", "INTERNAL": "crash"}.get(code, "unavailable"),
            "kind": "rpc", "code": code}) == 1.0


def test_sql_errors_log_no_parameters_nor_emails(monkeypatch, json_lines):
    monkeypatch.setenv("LOGDEMO_DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    engine = make_engine("logdemo")
    try:
        with pytest.raises(DBAPIError) as caught, engine.begin() as conn:
            conn.execute(text("CREATE TEMPORARY TABLE people (email text PRIMARY KEY, name text)"))
            insert = text("INSERT INTO people (email, name) VALUES (:email, :name)")
            conn.execute(insert, PERSON)
            conn.execute(insert, PERSON)  # (a traceback shows source lines: no literals here)
    finally:
        engine.dispose()
    assert "[SQL parameters hidden" in str(caught.value)
    logging.getLogger("logdemo").error("insert failed: %s", caught.value, exc_info=caught.value)
    (line,) = [line for line in json_lines() if line["logger"] == "logdemo"]
    text_of_line = json.dumps(line)
    assert "INSERT INTO people" in line["message"]  # the statement still says what failed
    assert "alice@example.com" not in text_of_line and "Alice Liddell" not in text_of_line, text_of_line


def test_redaction():
    assert logs.redact("no person bob.o-k+1@mail.example.org here") == "no person <email> here"
    assert logs.redact('DETAIL:  Key (email, org)=(a b, c) already exists.') == (
        "DETAIL:  Key (email, org)=(<redacted>) already exists.")
    assert logs.redact("LINE 1: SELECT CAST('x' AS integer)\nnext") == "LINE 1: <statement>\nnext"
