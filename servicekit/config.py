"""Configuration comes from the environment, with defaults that work on a
developer machine (local PostgreSQL with trust auth, local RabbitMQ).

A service's own settings are a frozen dataclass, read once when the service
starts (not at import), so a bad value stops the process with a clear message:

    @dataclass(frozen=True)
    class MessagingSettings(Settings):
        smtp_host: str = setting("SMTP_HOST", "127.0.0.1")
        smtp_port: int = setting("SMTP_PORT", 1025)
        unsubscribe_key: bytes = secret_setting("UNSUBSCRIBE_SECRET", DEV_UNSUBSCRIBE_SECRET)  # required

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
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit


class ConfigError(RuntimeError):
    """A setting is missing or malformed: the process must not start."""


def service_names() -> tuple[str, ...]:
    """The services of this installation: every `services/<name>/service.py`."""
    root = Path(__file__).resolve().parent.parent / "services"
    return tuple(sorted(path.parent.name for path in root.glob("*/service.py")))


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"


def broker_url(service: str | None = None) -> str:
    """The broker URL a process connects with.

    `service` None: `BROKER_URL` itself (operators' tools; its user must be
    allowed what the tool does). For a process (every service and the
    gateway): `<SERVICE>_BROKER_URL` when set; else `BROKER_URL` when it
    already names the process's own user with a password; else
    `BROKER_URL`'s host, port and vhost with the process's own RabbitMQ user
    (`broker_user`) and password (`broker_password`). The users are created
    by `python -m servicekit.broker_users` with only the permissions that
    process needs."""
    base = env("BROKER_URL", DEFAULT_BROKER_URL)
    if service is None:
        return base
    explicit = env(f"{service.upper()}_BROKER_URL")
    if explicit:
        return explicit
    parts = urlsplit(base)
    if parts.username and unquote(parts.username) == broker_user(service) and parts.password:
        return base  # this process's own BROKER_URL (compose gives each process its own)
    host = parts.hostname or "127.0.0.1"
    netloc = (f"{quote(broker_user(service), safe='')}:{quote(broker_password(service), safe='')}@"
              f"{'[' + host + ']' if ':' in host else host}{':' + str(parts.port) if parts.port else ''}")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def broker_vhost() -> str:
    """The vhost of BROKER_URL ("/" when the URL names none)."""
    path = urlsplit(env("BROKER_URL", DEFAULT_BROKER_URL)).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def broker_user(service: str) -> str:
    """A process's own RabbitMQ user: `<SERVICE>_BROKER_USER`, else `learnadmin-<service>`."""
    return env(f"{service.upper()}_BROKER_USER") or f"learnadmin-{service}"


def dev_broker_password(service: str) -> str:
    return f"dev-only-broker-{service}-change-me"


def broker_password(service: str, environ: Mapping[str, str] | None = None) -> str:
    """`<SERVICE>_BROKER_PASSWORD` (from a secret; only that process and the
    setup command get it). Outside development mode it is required, at least
    16 characters; in development mode a built-in password stands in."""
    name = f"{service.upper()}_BROKER_PASSWORD"
    value = (os.environ if environ is None else environ).get(name)
    if development_mode():
        return value or dev_broker_password(service)
    if not value:
        raise ConfigError(f"{name} must be set: each process connects to RabbitMQ as its own user "
                          "(python -m servicekit.broker_users creates them); APP_ENV=development allows "
                          "a built-in development password")
    if len(value) < MIN_BROKER_PASSWORD_LENGTH or value == dev_broker_password(service):
        raise ConfigError(f"{name} is too weak: use at least {MIN_BROKER_PASSWORD_LENGTH} random characters")
    return value


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


DEVELOPMENT = "development"
# Secrets that are public (in this repository): never a real key.
KNOWN_WEAK_SECRETS = frozenset({
    "dev-only-secret-change-me-0123456789abcdef",  # the former built-in JWT_SECRET
    "compose-dev-secret-change-me-0123456789abcdef",
    "CHANGE-ME-to-at-least-32-random-bytes",
})
MIN_SECRET_LENGTH = 32
MIN_BROKER_PASSWORD_LENGTH = 16


def development_mode() -> bool:
    """Only `APP_ENV=development` (set by `make`, `scripts/` and the test
    suite) allows development defaults such as a built-in signing key."""
    return env("APP_ENV", "") == DEVELOPMENT


def required_secret(name: str, value: str | None, development_default: str) -> str:
    """A secret setting: outside development mode it must be set, at least
    MIN_SECRET_LENGTH characters, and not an example value; in development
    mode `development_default` stands in when unset."""
    if development_mode():
        return value or development_default
    if not value:
        raise ConfigError(f"{name} must be set (at least {MIN_SECRET_LENGTH} random characters); "
                          "APP_ENV=development allows a built-in development key")
    if len(value) < MIN_SECRET_LENGTH or value in KNOWN_WEAK_SECRETS or value == development_default:
        raise ConfigError(f"{name} is too weak: use at least {MIN_SECRET_LENGTH} random characters, "
                          "not an example value")
    return value


def check_startup(signs_access_tokens: bool = False, verifies_access_tokens: bool = False) -> None:
    """What a process checks before it starts: identity (`signs_access_tokens`)
    needs a real private key outside development mode; the gateway
    (`verifies_access_tokens`) a readable JWT_PUBLIC_KEYS when it is set
    (servicekit.signing). No other process gets or checks a key."""
    from servicekit import signing

    if signs_access_tokens:
        signing.SigningKey.from_env()
    if verifies_access_tokens:
        signing.parse_public_keys(env(signing.PUBLIC_KEYS_ENV))


def log_level() -> str:
    return env("LOG_LEVEL", "INFO").upper()


def ops_port(service: str) -> int:
    """Port for /metrics, /healthz, /readyz: `<SERVICE>_OPS_PORT`, else
    `OPS_PORT`, else 0, a free port (`make run` sets 9101.. per service)."""
    return int(env(f"{service.upper()}_OPS_PORT", env("OPS_PORT", "0")))


def max_workers() -> int:
    return int(env("MAX_WORKERS", "20"))


def db_pool_idle() -> int:
    """Of those, how many stay open between bursts (DB_POOL_IDLE, default all:
    the test suite keeps fewer, as parallel runs share one PostgreSQL)."""
    return min(db_pool_size(), int(env("DB_POOL_IDLE", str(db_pool_size()))))


def db_pool_size() -> int:
    """Connections kept per service process (as many again may be opened in bursts)."""
    return int(env("DB_POOL_SIZE", "10"))


DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


def base_url(raw: str) -> str:
    """A URL that paths are appended to: without its trailing slash (a settings `parse`)."""
    return raw.rstrip("/")


def public_url() -> str:
    """Where people reach the platform (join links, accept links), without a trailing slash."""
    return base_url(env("PUBLIC_URL", DEFAULT_PUBLIC_URL))


def public_url_setting():
    """`public_url()` as a settings field: the base of the links a service puts in its emails and answers."""
    return setting("PUBLIC_URL", DEFAULT_PUBLIC_URL, parse=base_url)


def nameko_config(service: str | None = None, *, signs_access_tokens: bool = False,
                  verifies_access_tokens: bool = False) -> dict:
    """A process's nameko configuration, read when it starts (servicekit.run);
    a ConfigError (a missing or weak key) stops the start. `service`: the
    process connects to the broker as its own user (`broker_url(service)`)."""
    check_startup(signs_access_tokens, verifies_access_tokens)
    return {
        "AMQP_URI": broker_url(service),
        "max_workers": max_workers(),
        "parent_calls_tracked": 10,
        "serializer": "json",
        "RPC_TIMEOUT": float(env("RPC_TIMEOUT", "10")),
        "RPC_LONG_TIMEOUT": float(env("RPC_LONG_TIMEOUT", "120")),
        "WEB_SERVER_ADDRESS": env("WEB_SERVER_ADDRESS", "127.0.0.1:8000"),
    }


# ---- typed settings ---------------------------------------------------------


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


def secret_setting(env_name: str, development_default: str):
    """A required secret read from `env_name` (`required_secret`): outside
    development mode unset, short or an example value stops the start; in
    development mode `development_default` stands in when unset. The field
    holds the secret once the settings are built (encoded when the field is
    typed `bytes`, a signing key); `describe()` masks it."""
    return dataclasses.field(default=None, kw_only=True,
                             metadata={"env": env_name, "parse": None, "secret": True,
                                       "development_default": development_default})


class Settings:
    """Base of a service's frozen settings dataclass (see the module docstring).
    A subclass with a `__post_init__` of its own calls `super().__post_init__()`."""

    def __post_init__(self):
        for item in dataclasses.fields(self):
            default = item.metadata.get("development_default")
            if default is not None:  # secret_setting: resolved (or refused) when the settings are built
                value = required_secret(item.metadata["env"], getattr(self, item.name), default)
                if _plain(typing.get_type_hints(type(self))[item.name]) is bytes:
                    value = value.encode()
                object.__setattr__(self, item.name, value)

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
