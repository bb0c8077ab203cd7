"""The RPC deadline the gateway uses (servicekit.rpc), with a stand-in for nameko's proxy."""
import eventlet
import pytest

from contracts.errors import AppError, ErrorCode
from servicekit.rpc import TimedServiceProxy


class SlowReply:
    def __init__(self, seconds: float, value):
        self.seconds, self.value = seconds, value

    def result(self):
        eventlet.sleep(self.seconds)
        return self.value


class SlowMethod:
    def __init__(self, seconds: float):
        self.seconds = seconds

    def call_async(self, *args):
        return SlowReply(self.seconds, args)


class SlowService:
    remove_program = SlowMethod(0.3)


def test_a_call_past_its_deadline_is_service_unavailable_and_with_timeout_extends_it():
    proxy = TimedServiceProxy("programs", SlowService, timeout=0.05)
    with pytest.raises(AppError) as late:
        proxy.remove_program("org", "program")
    assert late.value.code == ErrorCode.SERVICE_UNAVAILABLE and "programs" in late.value.message
    assert proxy.with_timeout(2).remove_program("org", "program") == ("org", "program")
    with pytest.raises(AppError):  # the original keeps its own deadline
        proxy.remove_program("org", "program")
    patient = TimedServiceProxy("programs", SlowService, timeout=0.05, long_timeout=2)
    assert patient.with_long_timeout().remove_program("org", "program") == ("org", "program")
