"""The CSV export, the list's filters and paging, and the RPCs, on the service."""
import csv
import io
import uuid

from servicekit.standalone import unit_of_work
from services.audit import queries
from services.audit.tests.support import contract_updated, program_created, record


def test_neutralise_every_formula_start():
    for value in ("=1+2", "+1", "-1", "@A1", "\tx", "\rx"):
        assert queries.neutralise(value) == "'" + value
    assert queries.neutralise("plain") == "plain"
    assert queries.neutralise(None) == ""
    assert queries.neutralise({"a": "=x"}) == '{"a": "=x"}'  # JSON cells start with { or [


def test_export_neutralises_cells_and_is_utf8(service_databases):
    org = str(uuid.uuid4())
    names = ["=HYPERLINK(\"http://evil\")", "\tcmd", "\r=1", "+SUM(1)", "Zoë"]
    record(*[contract_updated(org, name=name) for name in names])
    with unit_of_work("audit") as uow:
        text = queries.export_csv(uow, org, {}, None, 100)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    # (events of the same millisecond are ordered by entry id)
    assert sorted(row["target_label"] for row in rows) == sorted("'" + n if n[0] in "=+-@\t\r" else n for n in names)
    for row in rows:
        assert all(not v or v[0] not in "=+-@\t\r" for v in row.values()), row
    text.encode("utf-8")


def test_export_refuses_more_than_its_maximum(service_databases):
    org = str(uuid.uuid4())
    record(*[program_created(org) for _ in range(3)])
    with unit_of_work("audit") as uow:
        try:
            queries.export_csv(uow, org, {}, None, 2)
        except Exception as exc:
            assert getattr(exc, "code", None) == "INVALID_INPUT"
        else:
            raise AssertionError("an export past its maximum must be refused")


def test_list_rpc_pages_newest_first_and_scopes_programs(audit):
    org = str(uuid.uuid4())
    mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    record(program_created(org, program_id=mine), program_created(org, program_id=theirs),
           contract_updated(org, name="Year 1"))
    first = audit.list_entries(org, {"limit": 2})
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = audit.list_entries(org, {"limit": 2, "cursor": first["next_cursor"]})
    every = first["items"] + rest["items"]
    assert len(every) == 3 and rest["next_cursor"] is None
    assert [e["occurred_at"] for e in every] == sorted((e["occurred_at"] for e in every), reverse=True)
    scoped = audit.list_entries(org, {}, [mine])
    assert [e["program_id"] for e in scoped["items"]] == [mine]
    assert audit.list_entries(org, {}, [])["items"] == []
    assert audit.list_entries(str(uuid.uuid4()), {})["items"] == []
    text = audit.export_csv(org, {"action": "contract.updated"})
    assert text.count("\r\n") == 2  # header + one entry
