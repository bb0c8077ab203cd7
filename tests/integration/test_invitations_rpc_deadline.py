"""invitations asks programs and identity through the kit's timed proxy: a
peer that does not answer makes the call SERVICE_UNAVAILABLE within the
deadline, instead of holding the caller and a worker (issue 9)."""
import time
import uuid

import eventlet
import pytest
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy

from contracts.errors import AppError, ErrorCode
from services.invitations.service import InvitationsService


class SilentPrograms:
    """Takes the call and never answers in time."""
    name = "programs"

    @rpc
    def program_with_contract(self, org_id, program_id, contract_id):
        eventlet.sleep(30)


def test_a_silent_programs_is_service_unavailable_within_the_deadline(container_factory, rabbit_config,
                                                                      service_databases):
    config = {**rabbit_config, "RPC_TIMEOUT": 1}
    for service in (InvitationsService, SilentPrograms):
        container_factory(service, config).start()
    data = {"program_id": str(uuid.uuid4()), "contract_id": str(uuid.uuid4()), "full_name": "Ann",
            "email": "ann@ex.com", "send_email": False}
    with ClusterRpcProxy(rabbit_config, timeout=20) as proxy:
        began = time.monotonic()
        with pytest.raises(AppError) as refused:
            proxy.invitations.create_invitation(str(uuid.uuid4()), data)
        waited = time.monotonic() - began
    assert refused.value.code == ErrorCode.SERVICE_UNAVAILABLE and "programs" in refused.value.message
    assert waited < 5
