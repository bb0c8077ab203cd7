"""Configuration comes from the environment, with defaults that work on a
developer machine (local PostgreSQL with trust auth, local RabbitMQ)."""
import os

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
        "WEB_SERVER_ADDRESS": env("WEB_SERVER_ADDRESS", "127.0.0.1:8000"),
    }
