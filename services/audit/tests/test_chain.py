"""The hash chain: appends serialized per organization, a redelivered event
recorded once, any change or removal found by verify, UPDATE/DELETE refused
by the database, and a retention purge that leaves a signed checkpoint the
chain still verifies from."""
import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy.exc import DBAPIError

from servicekit.clock import utcnow
from servicekit.standalone import unit_of_work
from services.audit import cli
from services.audit.chain import verify_org
from services.audit.commands import entries, retention
from services.audit.models import GENESIS
from services.audit.settings import DEV_CHECKPOINT_SECRET
from services.audit.tests.support import program_created, program_updated, record, sql, tamper

SECRET = DEV_CHECKPOINT_SECRET


def verify(org_id, secret=SECRET):
    with unit_of_work("audit") as uow:
        return verify_org(uow, org_id, secret)


def make_chain(org_id, n=5):
    events = [program_created(org_id, name=f"P{i}") for i in range(n)]
    record(*events)
    return events


def test_entries_chain_per_organization_and_verify(service_databases):
    org_a, org_b = str(uuid.uuid4()), str(uuid.uuid4())
    make_chain(org_a, 4)
    make_chain(org_b, 2)
    rows = sql("SELECT seq, prev_hash, hash FROM audit_entries WHERE org_id = :o ORDER BY seq", o=org_a)
    assert [r.seq for r in rows] == [1, 2, 3, 4]
    assert rows[0].prev_hash == GENESIS
    assert all(rows[i].prev_hash == rows[i - 1].hash for i in range(1, 4))
    assert verify(org_a).ok and verify(org_a).entries == 4
    assert verify(org_b).ok and verify(org_b).entries == 2


def test_a_redelivered_event_is_recorded_once(service_databases):
    org = str(uuid.uuid4())
    event = program_created(org)
    assert len(record(event)[0]) == 1
    assert record(event) == [[]]  # even without the kit's processed-event record
    assert sql("SELECT count(*) FROM audit_entries WHERE org_id = :o", o=org)[0][0] == 1
    assert verify(org).ok


def test_a_changed_entry_breaks_the_chain(service_databases):
    org = str(uuid.uuid4())
    make_chain(org, 5)
    tamper("UPDATE audit_entries SET target_label = 'innocent' WHERE org_id = :o AND seq = 3", o=org)
    report = verify(org)
    assert not report.ok
    assert any("seq 3" in p and "changed" in p for p in report.problems), report.problems


def test_a_removed_or_rehashed_entry_is_found(service_databases):
    org = str(uuid.uuid4())
    make_chain(org, 5)
    tamper("DELETE FROM audit_entries WHERE org_id = :o AND seq = 2", o=org)
    assert any("seq 3" in p for p in verify(org).problems)
    # a forger who recomputes the hash of a changed entry still breaks the next link
    org2 = str(uuid.uuid4())
    make_chain(org2, 3)
    with unit_of_work("audit") as uow:
        from sqlalchemy import select

        from services.audit.models import AuditEntry
        entry = uow.session.scalars(select(AuditEntry).where(AuditEntry.org_id == org2, AuditEntry.seq == 2)).one()
        entry.action = "program.nothing_happened"
        forged = entry.compute_hash()
        uow.session.expunge(entry)
    tamper("UPDATE audit_entries SET action = 'program.nothing_happened', hash = :h WHERE org_id = :o AND seq = 2",
           h=forged, o=org2)
    problems = verify(org2).problems
    assert any("seq 3" in p and "previous" in p for p in problems), problems
    # and removing the newest entry shows against the chain's head
    org3 = str(uuid.uuid4())
    make_chain(org3, 3)
    tamper("DELETE FROM audit_entries WHERE org_id = :o AND seq = 3", o=org3)
    assert any("head" in p for p in verify(org3).problems)


def test_the_database_refuses_update_delete_and_truncate(service_databases):
    org = str(uuid.uuid4())
    make_chain(org, 1)
    for statement in ("UPDATE audit_entries SET action = 'x' WHERE org_id = :o",
                      "DELETE FROM audit_entries WHERE org_id = :o",
                      "TRUNCATE audit_entries"):
        with pytest.raises(DBAPIError, match="append-only"):
            sql(statement, o=org) if ":o" in statement else sql(statement)
    assert sql("SELECT count(*) FROM audit_entries WHERE org_id = :o", o=org)[0][0] == 1


def test_concurrent_appends_to_one_organization_form_one_chain(service_databases):
    org = str(uuid.uuid4())
    errors = []

    def worker():
        try:
            for _ in range(10):
                record(program_created(org))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    report = verify(org)
    assert report.ok and report.entries == 60, report.problems
    assert [r.seq for r in sql("SELECT seq FROM audit_entries WHERE org_id = :o ORDER BY seq", o=org)] == list(
        range(1, 61))


def record_at(monkeypatch, when, *events):
    monkeypatch.setattr(entries, "utcnow", lambda: when)
    record(*events)
    monkeypatch.undo()


def test_retention_purges_a_prefix_and_leaves_a_signed_checkpoint(service_databases, monkeypatch):
    org = str(uuid.uuid4())
    now = utcnow()
    record_at(monkeypatch, now - timedelta(days=40), *[program_created(org) for _ in range(3)])
    record_at(monkeypatch, now - timedelta(days=5), *[program_created(org) for _ in range(2)])
    boundary = sql("SELECT hash FROM audit_entries WHERE org_id = :o AND seq = 3", o=org)[0][0]
    with unit_of_work("audit") as uow:
        assert retention.purge_org(uow, org, now - timedelta(days=30), SECRET) == 3
    assert [r.seq for r in sql("SELECT seq FROM audit_entries WHERE org_id = :o ORDER BY seq", o=org)] == [4, 5]
    checkpoint = sql("SELECT through_seq, through_hash, purged FROM audit_checkpoints WHERE org_id = :o", o=org)
    assert [tuple(c) for c in checkpoint] == [(3, boundary, 3)]
    assert verify(org).ok
    with pytest.raises(DBAPIError, match="append-only"):
        sql("UPDATE audit_checkpoints SET purged = 0 WHERE org_id = :o", o=org)
    assert not verify(org, secret="another-secret-of-at-least-32-characters").ok  # signature checked
    # appends go on after the cut, and a second purge stacks a second checkpoint
    record(program_created(org))
    with unit_of_work("audit") as uow:
        assert retention.purge_org(uow, org, utcnow() + timedelta(seconds=1), SECRET) == 3
    assert verify(org).ok and verify(org).entries == 0
    # a moved checkpoint (its hash no longer the cut's) is found
    tamper("UPDATE audit_checkpoints SET through_seq = through_seq - 1 WHERE org_id = :o AND through_seq = 3", o=org)
    assert any("signature" in p for p in verify(org).problems)


def test_retention_purge_of_every_org_and_the_verify_command(service_databases, monkeypatch, capsys):
    org = str(uuid.uuid4())
    now = utcnow()
    record_at(monkeypatch, now - timedelta(days=400), *[program_created(org) for _ in range(2)])
    record(program_created(org))
    with unit_of_work("audit") as uow:
        assert retention.purge_expired(uow, 365, SECRET) >= 2
        assert retention.purge_expired(uow, None, SECRET) == 0  # retention off
    assert cli.main(["verify", "--org", org]) == 0
    assert f"{org}: 1 entries, ok" in capsys.readouterr().out
    tamper("UPDATE audit_entries SET client_address = '198.51.100.1' WHERE org_id = :o", o=org)
    assert cli.main(["verify", "--org", org]) == 1
    assert "BROKEN" in capsys.readouterr().out


def test_before_and_after_of_changed_fields(service_databases):
    org = str(uuid.uuid4())
    program_id = str(uuid.uuid4())
    record(program_created(org, name="Old", program_id=program_id),
           program_updated(org, program_id, "Old", "New"))
    rows = sql("SELECT action, changes, actor_kind, actor_id, client_address, request_id FROM audit_entries "
               "WHERE org_id = :o ORDER BY seq", o=org)
    assert rows[1].action == "program.updated"
    assert rows[1].changes == {"name": {"before": "Old", "after": "New"}}
    assert (rows[1].actor_kind, rows[1].client_address, rows[1].request_id) == ("person", "203.0.113.7", "req-1")


def test_an_event_without_actor_is_the_systems(service_databases):
    org = str(uuid.uuid4())
    record(program_created(org, actor=None, client=None))
    assert sql("SELECT actor_kind, actor_id FROM audit_entries WHERE org_id = :o", o=org)[0] == ("system", None)


def test_text_postgresql_cannot_keep_is_recorded_replaced_not_parked(service_databases):
    from services.audit.tests.support import contract_updated

    org = str(uuid.uuid4())
    record(contract_updated(org, name="nul\x00 and \ud800 lone"))
    (label,) = sql("SELECT target_label FROM audit_entries WHERE org_id = :o", o=org)[0]
    assert label == "nul\ufffd and \ufffd lone"
    assert verify(org).ok
