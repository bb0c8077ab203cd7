"""programs' commands, one module per aggregate: `catalog`, `contracts`
(and their licenses), `programs`, `collections` (the curriculum),
`memberships` (and the people projection that names members), `enrollments`.

Each command is `def x(uow: UnitOfWork, ...)`: it loads (and locks) what it
changes, applies the rules of the models, and publishes the events announcing
the change through the unit of work (their payload builders sit next to it)."""
from sqlalchemy.exc import IntegrityError

from contracts.errors import AppError, ErrorCode
from servicekit.db import UnitOfWork


def conflict_on_duplicate(uow: UnitOfWork, what: str, field: str) -> None:
    """Flush; a unique-index violation becomes a clear 409 instead of a 500."""
    try:
        with uow.session.begin_nested():
            uow.session.flush()
    except IntegrityError:
        raise AppError(ErrorCode.DUPLICATE_NAME, f"a {what} with this name exists",
                       {field: ["already used"]}) from None
