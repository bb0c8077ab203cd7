"""`python -m console`: the console on CONSOLE_ADDRESS (127.0.0.1:8080) served by waitress, and its
/metrics, /healthz, /readyz on CONSOLE_OPS_PORT (or OPS_PORT; 0 = any free port, logged)."""
import logging
import signal
import sys
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import requests
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from waitress import create_server

from console.settings import ConsoleSettings
from console.web import create_app
from servicekit import logs

log = logging.getLogger("console")


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):  # the scrape every few seconds is not news
        pass


def ops_app(settings: ConsoleSettings):
    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [generate_latest()]
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"status": "ok"}']
        if path == "/readyz":  # ready when the gateway answers its own /readyz
            try:
                ok = requests.get(settings.gateway_url + "/readyz", timeout=3).status_code == 200
            except requests.RequestException:
                ok = False
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "application/json")])
            return [b'{"status": "ok"}' if ok else b'{"status": "gateway not ready"}']
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    return app


def serve_ops(settings: ConsoleSettings) -> WSGIServer:
    import os

    server = make_server(os.environ.get("OPS_HOST", "127.0.0.1"), settings.ops_port, ops_app(settings),
                         handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, name="ops", daemon=True).start()
    log.info("ops endpoints on port %s", server.server_port)
    return server


def main() -> None:
    logs.configure("console")
    settings = ConsoleSettings.from_env()
    app = create_app(settings)
    serve_ops(settings)
    host, _, port = settings.address.rpartition(":")
    server = create_server(app, host=host, port=int(port), threads=settings.threads, ident="console",
                           clear_untrusted_proxy_headers=True)
    log.info("console on http://%s:%s (gateway %s, public URL %s)", host, server.effective_port,
             settings.gateway_url, settings.public_url)

    def stop(signum, frame):
        log.info("console stopping")
        server.close()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.run()


if __name__ == "__main__":
    main()
