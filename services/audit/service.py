"""audit's nameko entrypoints: one event handler per audited event (each
records the event's entries, services/audit/handlers.py), the reads of the
log, and the retention timer.

The handlers are made from `actions.ACTIONS` (the events the log consumes and
what each means) rather than written out one by one: they are identical."""

from contracts.audit import AuditEntrySchema, AuditQuerySchema, AuditScopeSchema
from servicekit.entrypoints import load_input, rpc, settings_timer
from servicekit.events import handle_event
from servicekit.service import ServiceBase, ServiceSettings
from services.audit import handlers, queries
from services.audit.actions import ACTIONS
from services.audit.commands import retention
from services.audit.settings import AuditSettings


class AuditService(ServiceBase):
    name = "audit"
    settings = ServiceSettings(AuditSettings)

    @rpc(read_only=True)
    def list_entries(self, org_id, query=None, program_ids=None):
        """One page of the organization's log, newest first; `program_ids`: only those programs' entries."""
        scope = load_input(AuditScopeSchema(), {"program_ids": program_ids})["program_ids"]
        result = queries.list_entries(self.db, org_id, load_input(AuditQuerySchema(), query), scope)
        return {"items": AuditEntrySchema(many=True).dump(result["items"]), "next_cursor": result["next_cursor"]}

    @rpc  # streams rows with a server-side cursor: in a transaction, not on the autocommit read-only pool
    def export_csv(self, org_id, query=None, program_ids=None):
        scope = load_input(AuditScopeSchema(), {"program_ids": program_ids})["program_ids"]
        return queries.export_csv(self.db, org_id, load_input(AuditQuerySchema(), query), scope,
                                  self.settings.export_max_rows)

    @settings_timer(AuditSettings, lambda s: s.purge_interval)
    def purge_expired(self):
        retention.purge_expired(self.db, self.settings.retention_days, self.settings.checkpoint_key)


def _handler(event):
    def on_event(self, envelope):
        handlers.on_event(self.db, envelope)

    on_event.__name__ = on_event.__qualname__ = "on_" + event.type.removesuffix(".v1").replace(".", "_")
    return handle_event(event)(on_event)


for _event in ACTIONS:
    _method = _handler(_event)
    setattr(AuditService, _method.__name__, _method)
