import uuid

import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import create_engine, text

from servicekit import config
from services.identity.service import IdentityService
from tests.support.answers import answers


@pytest.fixture
def identity(container_factory, rabbit_config, service_databases):
    container = container_factory(IdentityService, rabbit_config)
    container.start()
    with ServiceRpcProxy("identity", rabbit_config) as proxy:
        yield proxy
    # A graceful stop disposes the database pools now (the factory's kill
    # leaves them to the garbage collector, and PostgreSQL's slots are shared).
    container.stop()


@pytest.fixture
def identity_db(service_databases):
    engine = create_engine(config.database_url("identity"))
    yield engine
    engine.dispose()


def new_org(identity) -> str:
    return identity.create_organization({"name": f"Org {uuid.uuid4().hex[:6]}"})["id"]


def new_email(prefix: str = "p") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"


def outcomes(calls) -> list[str]:
    """The error code of each async call, or "OK" (tests.support.answers)."""
    return answers(calls)


def link_tokens(identity_db, email: str, event_type: str = "identity.user.password_reset_requested.v1",
                url_field: str = "reset_url") -> list[str]:
    """The raw tokens of the links sent to `email`, oldest first (from the outbox):
    password links by default, or those of another event type and URL field."""
    with identity_db.connect() as conn:
        urls = conn.execute(text(
            f"SELECT envelope->'payload'->>'{url_field}' FROM kit_outbox "
            "WHERE event_type = :type AND envelope->'payload'->>'email' = :email ORDER BY id"),
            {"type": event_type, "email": email}).scalars().all()
    return [url.split("token=", 1)[1] for url in urls]


def reset_tokens(identity_db, email: str) -> list[str]:
    """The raw tokens of the password links sent to `email`, oldest first (from the outbox)."""
    return link_tokens(identity_db, email)


def verify_tokens(identity_db, email: str) -> list[str]:
    """The raw tokens of the verification links sent to `email`, oldest first (from the outbox)."""
    return link_tokens(identity_db, email, "identity.user.verification_requested.v1", "verify_url")
