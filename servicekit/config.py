"""Configuration comes from the environment, with defaults that work on a
developer machine (local PostgreSQL with trust auth, local RabbitMQ).

A service's own settings are a frozen dataclass, read once when the service
starts (not at import), so a bad value stops the process with a clear message:

    @dataclass(frozen=True)
    class MessagingSettings(Settings):
        smtp_host: str = setting("SMTP_HOST", "127.0.0.1")
        smtp_port: int = setting("SMTP_PORT", 1025)
        unsubscribe_secret: str = setting("UNSUBSCRIBE_SECRET")   # no default: required

    class MessagingService(ServiceBase):
        settings = ServiceSettings(MessagingSettings)   # servicekit.service; built in the container's setup
        ...
        sender.send(self.settings, ...)                 # a MessagingSettings

Tests build one directly: `MessagingSettings.from_env({"SMTP_PORT": "2525"})`."""
import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from datetime import timedelta

SERVICES = ("identity", "programs", "invitations", "messaging", "reporting", "skills")

# Default port of each service's ops HTTP server (/metrics, /healthz, /readyz).
DEFAULT_OPS_PORTS = {name: 9101 + i for i, name in enumerate(SERVICES)}


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def broker_url() -> str:
    return env("BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")


def database_url(service: str) -> str:
    """`<SERVICE>_DATABASE_URL`, else a database named after the service
    (prefixed by DATABASE_PREFIX, which the tests use to stay apart)."""
    explicit = env(f"{service.upper()}_DATABASE_URL")
    if explicit:
        return explicit
    base = env("DATABASE_BASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432")
    return f"{base}/{database_name(service)}"


def database_name(service: str) -> str:
    return f"{env('DATABASE_PREFIX', '')}{service}"


def jwt_secret() -> str:
    return env("JWT_SECRET", "dev-only-secret-change-me-0123456789abcdef")


def log_level() -> str:
    return env("LOG_LEVEL", "INFO").upper()


def ops_port(service: str) -> int:
    """Port for /metrics, /healthz, /readyz. 0 picks a free port (tests, replicas)."""
    value = env(f"{service.upper()}_OPS_PORT", env("OPS_PORT"))
    if value is not None:
        return int(value)
    return DEFAULT_OPS_PORTS.get(service, 0)


def max_workers() -> int:
    return int(env("MAX_WORKERS", "20"))


def db_pool_size() -> int:
    """Connections kept per service process (as many again may be opened in bursts)."""
    return int(env("DB_POOL_SIZE", "10"))


def public_url() -> str:
    """Where people reach the platform (join links, accept links)."""
    return env("PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")


def nameko_config() -> dict:
    return {
        "AMQP_URI": broker_url(),
        "max_workers": max_workers(),
        "parent_calls_tracked": 10,
        "serializer": "json",
        "RPC_TIMEOUT": float(env("RPC_TIMEOUT", "10")),
        "RPC_LONG_TIMEOUT": float(env("RPC_LONG_TIMEOUT", "120")),
        "WEB_SERVER_ADDRESS": env("WEB_SERVER_ADDRESS", "127.0.0.1:8000"),
    }


# ---- typed settings ---------------------------------------------------------


class ConfigError(RuntimeError):
    """A setting is missing or malformed: the process must not start."""


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("not a boolean (use true/false)")


def _parse_seconds(raw: str) -> timedelta:
    return timedelta(seconds=float(raw))


_PARSERS = {bool: _parse_bool, int: int, float: float, str: str, timedelta: _parse_seconds}


def setting(env_name: str, default=dataclasses.MISSING, *, parse=None, secret: bool = False):
    """A settings field read from `env_name`. Without a default it is
    required. `parse` turns the raw string into the value (by default the
    field's type: str, int, float, bool, timedelta in seconds); `secret`
    keeps the value out of `describe()`."""
    return dataclasses.field(default=default, kw_only=True,
                             metadata={"env": env_name, "parse": parse, "secret": secret})


class Settings:
    """Base of a service's frozen settings dataclass (see the module docstring)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None):
        environ = os.environ if environ is None else environ
        hints = typing.get_type_hints(cls)
        values = {}
        for item in dataclasses.fields(cls):
            name = item.metadata.get("env")
            if name is None:
                continue
            raw = environ.get(name)
            if raw is None:
                if item.default is dataclasses.MISSING:
                    raise ConfigError(f"{name} must be set")
                continue
            parse = item.metadata.get("parse") or _PARSERS.get(_plain(hints[item.name]), str)
            try:
                values[item.name] = parse(raw)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{name}={raw!r} is not valid: {exc}") from None
        return cls(**values)

    def describe(self) -> dict:
        """The settings by environment name, secrets masked (for a startup log)."""
        return {item.metadata["env"]: "***" if item.metadata.get("secret") else getattr(self, item.name)
                for item in dataclasses.fields(self) if "env" in item.metadata}


def _plain(hint):
    """`int | None` -> int."""
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    return args[0] if typing.get_origin(hint) in (typing.Union, types.UnionType) else hint
