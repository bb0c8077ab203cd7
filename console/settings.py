"""The console's settings, from the environment (docs/console.md)."""
import os
from dataclasses import dataclass

from servicekit import config

DEV_CONSOLE_SECRET = "dev-only-console-secret-0123456789abcdef"


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


@dataclass(frozen=True)
class ConsoleSettings:
    address: str  # host:port the console listens on
    gateway_url: str  # where the console reaches the gateway's public API
    public_url: str  # where people reach the console (links, redirects)
    api_public_url: str  # the gateway's API as its clients reach it (the SCIM base URL shown to org admins)
    secret_key: str  # the session cookie's key (encrypted with a key derived from it)
    development: bool
    ops_port: int
    threads: int
    api_timeout: float

    @classmethod
    def from_env(cls) -> "ConsoleSettings":
        development = config.development_mode()
        return cls(
            address=_env("CONSOLE_ADDRESS", "127.0.0.1:8080"),
            gateway_url=_env("GATEWAY_URL", "http://" + _env("WEB_SERVER_ADDRESS", "127.0.0.1:8000")).rstrip("/"),
            public_url=_env("PUBLIC_URL", "http://127.0.0.1:8080").rstrip("/"),
            # as identity's (services/identity/sso/config.py): one host routing /v1 and /scim to the gateway
            api_public_url=_env("API_PUBLIC_URL", _env("PUBLIC_URL", "http://127.0.0.1:8080")).rstrip("/"),
            secret_key=config.required_secret("CONSOLE_SECRET", os.environ.get("CONSOLE_SECRET"),
                                              DEV_CONSOLE_SECRET),
            development=development,
            ops_port=config.ops_port("console"),
            threads=int(_env("CONSOLE_THREADS", "16")),
            api_timeout=float(_env("CONSOLE_API_TIMEOUT", "30")),
        )

    @property
    def secure_cookies(self) -> bool:
        """Secure cookies outside development (in development the console is served over plain HTTP)."""
        return not self.development
