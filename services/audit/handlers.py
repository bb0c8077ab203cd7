"""audit's consumer: every event it subscribes to becomes its entries
(services/audit/actions.py says what each event means). The `@handle_event`
entrypoints in service.py each call this one function: the log treats every
event alike."""
from contracts.envelope import Envelope
from servicekit.db import UnitOfWork
from services.audit.commands.entries import record_event


def on_event(uow: UnitOfWork, event: Envelope) -> None:
    record_event(uow, event)
