"""Structured JSON logs, one object per line, with the correlation id."""
import json
import logging
import re
import sys
from datetime import UTC, datetime

from servicekit import config
from servicekit.context import correlation_id

# Personal data that reaches a log record through an error's text: email
# addresses, PostgreSQL's "Key (email)=(value)" details and its "LINE 1:"
# echo of a statement with its literals. Log identifiers, never these.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_KEY_DETAIL = re.compile(r"(Key \([^)]*\)=\()[^\n]*?(\) )")
_STATEMENT_ECHO = re.compile(r"^(LINE \d+: ).*$", re.MULTILINE)


def redact(value: str) -> str:
    value = _STATEMENT_ECHO.sub(r"\1<statement>", value)
    value = _KEY_DETAIL.sub(r"\1<redacted>\2", value)
    return _EMAIL.sub("<email>", value)


_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "correlation_id": correlation_id(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class WorkerErrorFilter(logging.Filter):
    """Drops nameko's "error handling worker" records: servicekit.observability
    logs every call once, a refusal at INFO without a traceback, a defect at
    ERROR with it (nameko would log each refusal again, with its traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and "error handling worker" in record.msg)


def configure(service: str) -> None:
    # Caller, thread and process are not in our lines; skip collecting them for
    # every record (the logging HOWTO's "Optimization"; eventlet makes current_thread() slow).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.log_level())
    # nameko and kombu are chatty at DEBUG/INFO about internals.
    # nameko.web.server: its access log repeats the per-call line of servicekit.observability.
    for noisy in ("kombu", "amqp", "nameko.containers", "nameko.runners", "nameko.web.server"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    containers = logging.getLogger("nameko.containers")
    if not any(isinstance(f, WorkerErrorFilter) for f in containers.filters):
        containers.addFilter(WorkerErrorFilter())
