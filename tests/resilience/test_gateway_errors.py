"""The gateway maps broker faults to 503 SERVICE_UNAVAILABLE with Retry-After, never 500."""
import json

from kombu.exceptions import OperationalError

from contracts.errors import AppError, ErrorCode
from gateway.http import response_for_exception


def test_a_broker_error_that_reaches_the_gateway_is_503_with_retry_after():
    for error in (OperationalError("[Errno 111] ECONNREFUSED"), ConnectionResetError(104, "reset")):
        response = response_for_exception(error)
        assert response.status_code == 503
        assert json.loads(response.get_data())["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert response.headers["Retry-After"] == "5"


def test_every_service_unavailable_refusal_says_when_to_retry():
    response = response_for_exception(AppError(ErrorCode.SERVICE_UNAVAILABLE, "identity did not answer in time"))
    assert (response.status_code, response.headers["Retry-After"]) == (503, "5")
    assert "Retry-After" not in response_for_exception(AppError(ErrorCode.NOT_FOUND, "no")).headers
