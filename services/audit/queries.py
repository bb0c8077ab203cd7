"""Reading the log: one organization's entries, filtered, newest first
(event time, then id) with keyset paging; the same rows as CSV, oldest first."""
import csv
import io
import json
from datetime import datetime

from sqlalchemy import select

from contracts.errors import AppError, ErrorCode
from servicekit.db import UnitOfWork
from servicekit.models import parse_uuid
from servicekit.pagination import keyset_page
from services.audit.models import AuditEntry

# A cell a spreadsheet would run as a formula (or that hides one behind a tab / carriage return).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = ("occurred_at", "action", "actor_kind", "actor_id", "actor_label", "target_type", "target_id",
               "target_label", "program_id", "changes", "details", "request_id", "client_address", "recorded_at",
               "seq", "hash", "prev_hash", "event_id", "event_type", "id")


def filtered(org_id: str, filters: dict, program_ids: list[str] | None):
    """The org's entries matching the filters; `program_ids` (a program
    admin's) narrows to the entries of those programs."""
    query = select(AuditEntry).where(AuditEntry.org_id == org_id)
    if program_ids is not None:
        query = query.where(AuditEntry.program_id.in_([p for p in map(parse_uuid, program_ids) if p]))
    if filters.get("actor"):
        query = query.where(AuditEntry.actor_id == filters["actor"])
    action = filters.get("action")
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True) if action.endswith(".")
                            else AuditEntry.action == action)
    if filters.get("target"):
        query = query.where(AuditEntry.target_id == filters["target"])
    if filters.get("from_"):
        query = query.where(AuditEntry.occurred_at >= filters["from_"])
    if filters.get("to"):
        query = query.where(AuditEntry.occurred_at < filters["to"])
    return query


def list_entries(uow: UnitOfWork, org_id: str, filters: dict, program_ids: list[str] | None) -> dict:
    page = keyset_page(uow.session, filtered(org_id, filters, program_ids), [AuditEntry.occurred_at, AuditEntry.id],
                       filters.get("cursor"), filters.get("limit", 50), scalars=True, descending=True)
    return {"items": [entry_view(entry) for entry in page.items], "next_cursor": page.next_cursor}


def entry_view(entry: AuditEntry) -> dict:
    return {
        "id": entry.id, "org_id": entry.org_id, "seq": entry.seq, "occurred_at": entry.occurred_at,
        "recorded_at": entry.recorded_at, "action": entry.action,
        "actor": {"kind": entry.actor_kind, "id": entry.actor_id, "label": entry.actor_label},
        "target": {"type": entry.target_type, "id": entry.target_id, "label": entry.target_label},
        "program_id": entry.program_id, "changes": entry.changes, "details": entry.details,
        "request_id": entry.request_id, "client_address": entry.client_address, "event_id": entry.event_id,
        "event_type": entry.event_type, "hash": entry.hash, "prev_hash": entry.prev_hash,
    }


def neutralise(value) -> str:
    """A cell no spreadsheet runs as a formula: text starting with = + - @,
    a tab or a carriage return gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        text = value.isoformat()
    elif isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def export_csv(uow: UnitOfWork, org_id: str, filters: dict, program_ids: list[str] | None, max_rows: int) -> str:
    """The matching entries, oldest first, as UTF-8 CSV text (with a BOM, so
    spreadsheets read it as UTF-8). More than `max_rows`: refused, narrow the time window."""
    query = filtered(org_id, filters, program_ids).order_by(AuditEntry.occurred_at, AuditEntry.id).limit(max_rows + 1)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    rows = 0
    for entry in uow.session.execute(query.execution_options(yield_per=1000)).scalars():
        rows += 1
        if rows > max_rows:
            raise AppError(ErrorCode.INVALID_INPUT, f"more than {max_rows} entries: narrow the time window",
                           {"to": [f"at most {max_rows} entries per export"]})
        writer.writerow([neutralise(getattr(entry, column)) for column in CSV_COLUMNS])
    return out.getvalue()
