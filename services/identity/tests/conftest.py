import uuid

import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import create_engine

from servicekit import config
from services.identity.service import IdentityService


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
