"""Error codes shared by services and the gateway.

Services raise `AppError(code, message, details)`; nameko carries it over RPC
and, because it is registered with `deserialize_to_instance`, the gateway gets
the same exception back and maps its code to an HTTP status."""
import json
from enum import StrEnum

from nameko.exceptions import deserialize_to_instance


class ErrorCode(StrEnum):
    INVALID_INPUT = "INVALID_INPUT"
    MALFORMED_JSON = "MALFORMED_JSON"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    TOKEN_INVALID = "TOKEN_INVALID"
    FORBIDDEN = "FORBIDDEN"
    INSUFFICIENT_SCOPE = "INSUFFICIENT_SCOPE"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    CONFLICT = "CONFLICT"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    ALREADY_ADMIN = "ALREADY_ADMIN"
    EMAIL_NOT_VERIFIED = "EMAIL_NOT_VERIFIED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    RULE_VIOLATION = "RULE_VIOLATION"
    TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL = "INTERNAL"
    INVALID_EVENT = "INVALID_EVENT"
    # programs
    LICENSE_LIMIT_REACHED = "LICENSE_LIMIT_REACHED"
    CONTRACT_NOT_ACTIVE = "CONTRACT_NOT_ACTIVE"
    LICENSES_IN_USE = "LICENSES_IN_USE"
    NOT_A_MEMBER = "NOT_A_MEMBER"
    NOT_IN_CURRICULUM = "NOT_IN_CURRICULUM"
    ENROLLMENT_LIMIT_REACHED = "ENROLLMENT_LIMIT_REACHED"
    CONFIRMATION_REQUIRED = "CONFIRMATION_REQUIRED"
    DUPLICATE_NAME = "DUPLICATE_NAME"
    # invitations
    DUPLICATE_INVITATION = "DUPLICATE_INVITATION"
    ALREADY_MEMBER = "ALREADY_MEMBER"
    INVITATION_EXPIRED = "INVITATION_EXPIRED"
    INVITATION_REVOKED = "INVITATION_REVOKED"
    INVITATION_USED = "INVITATION_USED"
    NOT_INVITED = "NOT_INVITED"
    INVALID_FILE = "INVALID_FILE"
    # messaging
    TERMS_NOT_ACCEPTED = "TERMS_NOT_ACCEPTED"
    MESSAGE_NOT_EDITABLE = "MESSAGE_NOT_EDITABLE"


HTTP_STATUS = {
    ErrorCode.INVALID_INPUT: 400,
    ErrorCode.MALFORMED_JSON: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.TOKEN_EXPIRED: 401,
    ErrorCode.TOKEN_INVALID: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.INSUFFICIENT_SCOPE: 403,
    ErrorCode.NOT_INVITED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.CONFLICT: 409,
    ErrorCode.EMAIL_TAKEN: 409,
    ErrorCode.ALREADY_ADMIN: 409,
    ErrorCode.DUPLICATE_INVITATION: 409,
    ErrorCode.ALREADY_MEMBER: 409,
    ErrorCode.DUPLICATE_NAME: 409,
    ErrorCode.INVITATION_USED: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.TOO_MANY_REQUESTS: 429,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
    ErrorCode.INVITATION_EXPIRED: 410,
    ErrorCode.INVITATION_REVOKED: 410,
}
# Every other code is a rule refusing the request.
DEFAULT_STATUS = 422


def http_status(code: str) -> int:
    return HTTP_STATUS.get(code, DEFAULT_STATUS)


@deserialize_to_instance
class AppError(Exception):
    """A refusal with a stable code. Safe to show to the client."""

    def __init__(self, code, message: str = "", details: dict | str | None = None):
        self.code = str(code)
        self.message = message or self.code.replace("_", " ").capitalize()
        # Travels as JSON text: nameko stringifies non-string values inside exception args.
        self.details = json.loads(details) if isinstance(details, str) else (details or {})
        super().__init__(self.code, self.message, json.dumps(self.details, default=str))

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "details": self.details}


def not_found(what: str = "resource") -> AppError:
    return AppError(ErrorCode.NOT_FOUND, f"{what} not found")


def invalid(details: dict, message: str = "invalid input") -> AppError:
    return AppError(ErrorCode.INVALID_INPUT, message, details)
