"""What every page does with the API's answers: an error as a message, a button's call with its outcome
flashed (style.md "Pages": a page handler calls the API, renders a template, maps API errors to messages)."""
from flask import flash

from console.gateway import ApiError


def message_of(exc: ApiError, messages: dict | None = None) -> str:
    """The message a person reads for an API error: the page's own for known codes, else the API's."""
    messages = messages or {}
    if exc.code in messages:
        return messages[exc.code]
    if exc.status >= 500:
        return "The platform did not answer. Try again in a moment."
    return exc.message or "That did not work."


def field_summary(exc: ApiError) -> str:
    errors = exc.field_errors()
    return (" (" + "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()) + ")") if errors else ""


def attempt(call, done, messages: dict | None = None, details: bool = False):
    """Make a call for a button (remove, revoke, resend...): flash `done` (a text, or a function of the
    answer) when it worked, the error's message when it did not; the answer, or None."""
    try:
        answer = call()
    except ApiError as exc:
        flash(message_of(exc, messages) + (field_summary(exc) if details else ""), "error")
        return None
    flash(done(answer) if callable(done) else done)
    return answer
