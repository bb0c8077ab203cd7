"""The audit log (docs/audit.md): an organization's entries, filtered and
paged, and their CSV export. Read-only: no route changes or deletes an entry.

Org admins (and API tokens of scope audit:read) see every entry of their
organization; program admins the entries of their programs; a person of the
organization without an admin role gets 403, anyone else the 404 of an
unknown organization."""
from contracts.audit import AuditEntrySchema, AuditQuerySchema
from contracts.errors import AppError, ErrorCode
from gateway.auth import Principal
from gateway.http import route
from gateway.routes import Routes
from gateway.routes.invitations import csv_response
from gateway.schemas import page_of


def query_of(query: dict) -> dict:
    """The filters as the audit service loads them (AuditQuerySchema)."""
    values = {"limit": query["limit"], "cursor": query["cursor"], "actor": query["actor"],
              "action": query["action"], "target": query["target"]}
    for name, key in (("from_", "from"), ("to", "to")):
        if query.get(name) is not None:
            values[key] = query[name].isoformat()
    return values


class AuditRoutes(Routes):
    def allowed_programs(self, principal: Principal, org_id: str) -> list[str] | None:
        """None: every entry of the organization; else the programs whose entries the caller sees."""
        if not principal.is_admin(org_id):
            if principal.user_id and self.programs.person_in_org(org_id, principal.user_id):
                raise AppError(ErrorCode.FORBIDDEN, "only admins may read the audit log")
            raise AppError(ErrorCode.NOT_FOUND, "organization not found")
        return principal.program_scope(org_id)

    @route("GET", "/v1/orgs/{org_id}/audit", scope="audit:read", query=AuditQuerySchema,
           response=page_of(AuditEntrySchema), tags=("audit",),
           summary="The organization's audit log, newest first (program admins: their programs' entries)")
    def list_audit(self, call, org_id):
        allowed = self.allowed_programs(call.principal, org_id)
        return self.audit.list_entries(org_id, query_of(call.query), allowed)

    @route("GET", "/v1/orgs/{org_id}/audit.csv", scope="audit:read", query=AuditQuerySchema, tags=("audit",),
           content_type="text/csv",
           summary="The audit log as CSV, oldest first (UTF-8; cells that a spreadsheet would run as a formula "
                   "are prefixed with ')")
    def export_audit(self, call, org_id):
        allowed = self.allowed_programs(call.principal, org_id)
        query = {key: value for key, value in query_of(call.query).items() if key not in ("limit", "cursor")}
        return csv_response(self.audit.with_long_timeout().export_csv(org_id, query, allowed),
                            f"audit-{org_id}.csv")
