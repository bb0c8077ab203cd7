"""The console's only way to the platform: the gateway's public HTTP API.

`Gateway.call` answers the decoded JSON (or raw response for files) and raises
`ApiError` with the API's stable code for every error answer, so a page maps
codes to messages and never shows a stack trace."""
import time
from dataclasses import dataclass, field

import requests
from flask import g
from prometheus_client import Histogram

API_SECONDS = Histogram("learnadmin_console_api_call_seconds", "Gateway calls made by the console",
                        ["method", "status"])


@dataclass
class ApiError(Exception):
    status: int
    code: str
    message: str
    details: dict = field(default_factory=dict)
    request_id: str | None = None

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"

    def field_errors(self) -> dict[str, list[str]]:
        """`details` of a 400: {field: [messages]} (nested fields flattened with dots)."""
        if self.status != 400 or not isinstance(self.details, dict):
            return {}
        out: dict[str, list[str]] = {}

        def walk(prefix, value):
            if isinstance(value, dict):
                for key, inner in value.items():
                    walk(f"{prefix}.{key}" if prefix else str(key), inner)
            elif isinstance(value, list):
                out.setdefault(prefix or "_schema", []).extend(
                    str(v) if not isinstance(v, dict | list) else str(v) for v in value)
            else:
                out.setdefault(prefix or "_schema", []).append(str(value))

        walk("", self.details)
        return out


UNAVAILABLE = ApiError(503, "SERVICE_UNAVAILABLE", "The platform did not answer. Try again in a moment.")


class Gateway:
    def __init__(self, base_url: str, timeout: float = 30):
        self.base_url = base_url
        self.timeout = timeout
        self.http = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32)
        self.http.mount("http://", adapter)
        self.http.mount("https://", adapter)

    def raw(self, method: str, path: str, token: str | None = None, *, stream: bool = False,
            headers: dict | None = None, client_ip: str | None = None, **kwargs) -> requests.Response:
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request_id = getattr(g, "request_id", None) if _has_app_context() else None
        if request_id:
            headers["X-Request-Id"] = request_id
        if client_ip:
            headers["X-Forwarded-For"] = client_ip
        started = time.perf_counter()
        try:
            response = self.http.request(method, self.base_url + path, headers=headers, timeout=self.timeout,
                                         stream=stream, allow_redirects=False, **kwargs)
        except requests.RequestException as exc:
            raise ApiError(503, "SERVICE_UNAVAILABLE", UNAVAILABLE.message) from exc
        finally:
            elapsed = time.perf_counter() - started
            if _has_app_context():
                g.api_seconds = getattr(g, "api_seconds", 0.0) + elapsed
                g.api_calls = getattr(g, "api_calls", 0) + 1
        API_SECONDS.labels(method, str(getattr(locals().get("response"), "status_code", "error"))).observe(elapsed)
        if response.status_code >= 400:
            raise error_of(response)
        return response

    def call(self, method: str, path: str, token: str | None = None, **kwargs):
        response = self.raw(method, path, token, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        if "json" in response.headers.get("Content-Type", ""):
            return response.json()
        return response.text


def error_of(response: requests.Response) -> ApiError:
    try:
        body = response.json()["error"]
        return ApiError(response.status_code, body.get("code", "ERROR"), body.get("message", ""),
                        body.get("details") or {}, response.headers.get("X-Request-Id"))
    except (ValueError, KeyError, TypeError):
        return ApiError(response.status_code, "ERROR", f"The platform answered {response.status_code}.", {},
                        response.headers.get("X-Request-Id"))


def _has_app_context() -> bool:
    from flask import has_app_context

    return has_app_context()
