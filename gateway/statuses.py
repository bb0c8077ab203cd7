"""The HTTP status of each error code: a gateway matter (services answer
codes, the gateway speaks HTTP). Documented in docs/api.md ("Errors")."""
from contracts.errors import ErrorCode

HTTP_STATUS: dict[str, int] = {
    ErrorCode.INVALID_INPUT: 400,
    ErrorCode.MALFORMED_JSON: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.TOKEN_EXPIRED: 401,
    ErrorCode.TOKEN_INVALID: 401,
    ErrorCode.TOKEN_REVOKED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.INSUFFICIENT_SCOPE: 403,
    ErrorCode.NOT_INVITED: 403,
    ErrorCode.EMAIL_NOT_VERIFIED: 403,  # sign-in of an unverified address: verify it (or resend the link) first
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PRECONDITION_FAILED: 412,
    ErrorCode.EMAIL_TAKEN: 409,
    ErrorCode.ALREADY_ADMIN: 409,
    ErrorCode.DUPLICATE_INVITATION: 409,
    ErrorCode.ALREADY_MEMBER: 409,
    ErrorCode.DUPLICATE_NAME: 409,
    ErrorCode.INVITATION_USED: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.URI_TOO_LONG: 414,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.TOO_MANY_REQUESTS: 429,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
    ErrorCode.INVITATION_EXPIRED: 410,
    ErrorCode.INVITATION_REVOKED: 410,
    ErrorCode.REPORT_LINK_EXPIRED: 410,
    ErrorCode.SSO_FAILED: 401,
    ErrorCode.SSO_NOT_LINKABLE: 403,
    ErrorCode.SSO_REQUIRED: 403,
    ErrorCode.DOMAIN_TAKEN: 409,
}
# Every other code is a rule refusing the request.
DEFAULT_STATUS = 422


def http_status(code: str) -> int:
    return HTTP_STATUS.get(code, DEFAULT_STATUS)
