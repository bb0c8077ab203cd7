"""The programs service in a nameko container (real PostgreSQL and RabbitMQ),
with the demo catalog loaded; identity is not running."""
import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from servicekit.standalone import unit_of_work
from services.programs.commands import catalog
from services.programs.service import ProgramsService


@pytest.fixture
def programs(container_factory, rabbit_config, service_databases):
    with unit_of_work("programs") as uow:
        catalog.load_catalog_file(uow, catalog.DEMO_CATALOG)
    container_factory(ProgramsService, rabbit_config).start()
    with ServiceRpcProxy("programs", rabbit_config) as proxy:
        yield proxy
