"""Error codes shared by services and the gateway.

Services raise `AppError(code, message, details)`; nameko carries it over RPC
and, because it is registered with `deserialize_to_instance`, the gateway gets
the same exception back and maps its code to an HTTP status (gateway.statuses)."""
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
    TOKEN_REVOKED = "TOKEN_REVOKED"
    FORBIDDEN = "FORBIDDEN"
    INSUFFICIENT_SCOPE = "INSUFFICIENT_SCOPE"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    CONFLICT = "CONFLICT"
    PRECONDITION_FAILED = "PRECONDITION_FAILED"  # If-Match names another version (SCIM ETags)
    EMAIL_TAKEN = "EMAIL_TAKEN"
    ALREADY_ADMIN = "ALREADY_ADMIN"
    EMAIL_NOT_VERIFIED = "EMAIL_NOT_VERIFIED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    URI_TOO_LONG = "URI_TOO_LONG"
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
    # reporting
    REPORT_LINK_EXPIRED = "REPORT_LINK_EXPIRED"
    # single sign-on (docs/sso.md)
    SSO_FAILED = "SSO_FAILED"  # the provider's answer was refused; details.reason says why
    SSO_NOT_LINKABLE = "SSO_NOT_LINKABLE"  # the address is another organization's account, or in no verified domain
    SSO_REQUIRED = "SSO_REQUIRED"  # "only SSO": this address signs in with the company account
    DOMAIN_TAKEN = "DOMAIN_TAKEN"  # another organization verified this domain


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
