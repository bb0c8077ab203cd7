"""Structured JSON logs, one object per line, with the correlation id."""
import json
import logging
import sys
from datetime import UTC, datetime

from servicekit import config
from servicekit.context import correlation_id

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
            "message": record.getMessage(),
            "correlation_id": correlation_id(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


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
