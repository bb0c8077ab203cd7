"""The simulator's client waits out a platform that is still starting (503) for reads and the sign-in,
never for other writes (`make run` starts it with the suite: the gateway is ready before identity)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scripts.simulate.platform import Api, ApiError


class StartingPlatform(BaseHTTPRequestHandler):
    """Answers 503 SERVICE_UNAVAILABLE to the first `unavailable` requests, then 200."""
    unavailable = 2
    seen: list[str] = []

    def _answer(self):
        type(self).seen.append(f"{self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        starting = len(type(self).seen) <= type(self).unavailable
        status, body = (503, {"error": {"code": "SERVICE_UNAVAILABLE", "message": "identity is not available"}}) \
            if starting else (200, {"access_token": "t", "ok": True})
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def platform():
    StartingPlatform.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), StartingPlatform)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_sign_in_and_reads_wait_out_a_starting_platform(platform):
    api = Api(platform, patience=30)
    api.login("admin@acme.example", "pw")
    assert StartingPlatform.seen == ["POST /v1/auth/login"] * 3
    assert api.session.headers["Authorization"] == "Bearer t"
    assert api.call("GET", "/v1/me") == {"access_token": "t", "ok": True}


def test_without_patience_the_first_503_is_an_error(platform):
    with pytest.raises(ApiError) as refused:
        Api(platform).login("admin@acme.example", "pw")
    assert refused.value.code == "SERVICE_UNAVAILABLE"


def test_other_writes_are_not_sent_twice(platform):
    with pytest.raises(ApiError):
        Api(platform, patience=30).call("POST", "/v1/orgs/x/api-tokens", {"name": "n"})
    assert StartingPlatform.seen == ["POST /v1/orgs/x/api-tokens"]
