"""The audit service in a nameko container (real PostgreSQL and RabbitMQ)."""
import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from services.audit.service import AuditService


@pytest.fixture
def audit(container_factory, rabbit_config, service_databases):
    container_factory(AuditService, rabbit_config).start()
    with ServiceRpcProxy("audit", rabbit_config) as proxy:
        yield proxy
