"""The reporting process's internal export server: where the gateway streams
CSVs from (docs/reporting.md "Reports", "How a download streams").

Why not RPC: a report can be hundreds of megabytes; through RabbitMQ it would
be cut into messages, each serialised to JSON, queued and acknowledged, and a
reply of a million rows would not fit in one. Here the gateway, having
authorized the caller, asks reporting over RPC for a ticket (a URL on this
server, signed for that one export, valid REPORTING_EXPORT_TICKET_SECONDS)
and then reads the CSV from this server over plain HTTP, chunk by chunk,
passing each chunk on to its client as it comes.

- It is an eventlet WSGI server in the service process, on
  REPORTING_EXPORT_HOST:REPORTING_EXPORT_PORT (internal network only; it
  answers nothing without a valid ticket, and a ticket is signed with
  REPORT_LINK_SECRET, which only reporting holds).
- An export runs in the server's own green thread and its own connection
  pool (REPORTING_EXPORT_CONCURRENCY at once, more wait for a free slot):
  RPC workers and their database pool are never held by a download.
- Any replica can serve any ticket; the ticket's URL is the replica that
  issued it (REPORTING_EXPORT_URL, else http://host:port).
- A client that goes away closes the generator: the transaction ends and
  the connection returns to the pool."""
import json
import logging
from datetime import timedelta

import eventlet
import eventlet.wsgi
from eventlet.semaphore import Semaphore
from nameko.extensions import DependencyProvider
from prometheus_client import Counter, Gauge

from contracts.errors import AppError
from servicekit.clock import utcnow
from services.reporting.reports import export, links
from services.reporting.reports.settings import ReportsSettings

log = logging.getLogger(__name__)
EXPORTS = Counter("learnadmin_report_exports_total", "Report exports streamed, by report and outcome",
                  ["report", "outcome"])
EXPORTS_RUNNING = Gauge("learnadmin_report_exports_running", "Report exports streaming now")
EXPORT_BYTES = Counter("learnadmin_report_export_bytes_total", "Bytes of report CSVs streamed")
STATUS = {404: "404 Not Found", 410: "410 Gone", 503: "503 Service Unavailable"}


def ticket_path(ticket: str) -> str:
    return f"/exports/{ticket}"


class ExportServer(DependencyProvider):
    """`exports = ExportServer()` on reporting: serves /exports/<ticket>;
    workers get it to issue tickets (`ticket_url`)."""

    def setup(self):
        self.settings = ReportsSettings.from_env()
        self.engine = export.make_export_engine(self.container.service_name,
                                                self.settings.export_concurrency * self.settings.export_parts)
        self.slots = Semaphore(self.settings.export_concurrency)
        self.base_url = None

    def start(self):
        sock = eventlet.listen((self.settings.export_host, self.settings.export_port))
        self.port = sock.getsockname()[1]
        self.base_url = self.settings.export_url or f"http://{self.settings.export_host}:{self.port}"
        self._server = self.container.spawn_managed_thread(
            lambda: eventlet.wsgi.server(sock, self.app, log_output=False, max_size=256))
        log.info("report export server on %s", self.base_url)

    def stop(self):
        server = getattr(self, "_server", None)
        if server is not None:
            server.kill()
        self.engine.dispose()

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx):
        return self

    def ticket_url(self, request: export.ExportRequest) -> str:
        expires = utcnow() + timedelta(seconds=self.settings.ticket_ttl_seconds)
        return self.base_url + ticket_path(links.sign(self.settings.link_key, links.EXPORT, request.claims(), expires))

    # ---- WSGI

    def app(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "GET" or not path.startswith("/exports/"):
            return self._error(start_response, 404, "NOT_FOUND", "not found")
        try:
            claims = links.verify(self.settings.link_key, links.EXPORT, path.removeprefix("/exports/"), utcnow())
            request = export.ExportRequest.from_claims(claims)
        except AppError as exc:
            return self._error(start_response, 410 if exc.code == "REPORT_LINK_EXPIRED" else 404, exc.code,
                               exc.message)
        except (KeyError, TypeError):
            return self._error(start_response, 404, "NOT_FOUND", "not found")
        start_response("200 OK", [("Content-Type", "text/csv; charset=utf-8"),
                                  ("Content-Disposition", f'attachment; filename="{request.filename}"'),
                                  ("Cache-Control", "no-store")])
        return self._body(request)

    def _body(self, request: export.ExportRequest):
        outcome = "failed"
        with self.slots:
            EXPORTS_RUNNING.inc()
            try:
                for chunk in export.stream(self.engine, request, self.settings.export_parts):
                    EXPORT_BYTES.inc(len(chunk))
                    yield chunk
                outcome = "ok"
            except GeneratorExit:
                outcome = "abandoned"
                raise
            except Exception:
                # The status line has gone: the client sees a cut-off file (no final chunk).
                log.exception("report export failed (%s, org %s)", request.report, request.org_id)
                raise
            finally:
                EXPORTS_RUNNING.dec()
                EXPORTS.labels(request.report, outcome).inc()

    @staticmethod
    def _error(start_response, status: int, code: str, message: str):
        start_response(STATUS.get(status, f"{status} Error"), [("Content-Type", "application/json")])
        return [json.dumps({"error": {"code": code, "message": message, "details": {}}}).encode()]
