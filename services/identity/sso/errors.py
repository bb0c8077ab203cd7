"""A refused single sign-on: one code (SSO_FAILED, or SSO_NOT_LINKABLE) with a
`reason` the audit log records and the sign-in page explains."""
from contracts.errors import AppError, ErrorCode


def refused(reason: str, message: str, code: str = ErrorCode.SSO_FAILED) -> AppError:
    return AppError(code, message, {"reason": reason})


def not_linkable(reason: str, message: str) -> AppError:
    return refused(reason, message, ErrorCode.SSO_NOT_LINKABLE)
