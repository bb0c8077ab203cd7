"""The names learning platforms give items (native `object.name`, xAPI
`object.definition.name`), kept per organization, course and item: the
gradebooks' Assessment column and headers (the catalog has no item names).
The name of the latest statement (by its time) that gave one wins."""
from sqlalchemy import text

from servicekit.bulk import unnest

COLUMNS = {"course_id": "text", "item_id": "text", "name": "text", "named_at": "timestamptz"}


def record(session, org_id: str, rows) -> None:
    """The names of newly stored statements (one statement, set-based)."""
    latest = {}
    for row in rows:
        if row.item_name and row.item_id:
            key = (row.course_id, row.item_id)
            if key not in latest or row.ts > latest[key].ts:
                latest[key] = row
    if not latest:
        return
    keys = sorted(latest)
    names = ", ".join(COLUMNS)
    session.execute(text(
        f"INSERT INTO item_names (org_id, {names}) SELECT CAST(:org AS uuid), {names} FROM {unnest(COLUMNS)} "
        "ON CONFLICT (org_id, course_id, item_id) DO UPDATE SET name = EXCLUDED.name, named_at = EXCLUDED.named_at "
        "WHERE item_names.named_at < EXCLUDED.named_at"),
        {"org": org_id, "course_id": [k[0] for k in keys], "item_id": [k[1] for k in keys],
         "name": [latest[k].item_name for k in keys], "named_at": [latest[k].ts.isoformat() for k in keys]})
