"""invitations through its RPC interface and its workers, in nameko containers
next to the real identity and programs services, on the real PostgreSQL and
RabbitMQ."""
import base64
import uuid
from datetime import date, timedelta

import eventlet
import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, text

from contracts.errors import AppError
from servicekit import config
from servicekit.clock import utcnow as now
from servicekit.standalone import unit_of_work
from services.identity.service import IdentityService
from services.invitations import commands, importer
from services.invitations.service import InvitationsService
from services.programs.service import ProgramsService

TODAY = date.today()


@pytest.fixture
def rpc(container_factory, rabbit_config, service_databases):
    for service in (IdentityService, ProgramsService, InvitationsService):
        container_factory(service, rabbit_config).start()
    with ClusterRpcProxy(rabbit_config, timeout=60) as proxy:
        yield proxy


@pytest.fixture
def inv_db(service_databases):
    engine = create_engine(config.database_url("invitations"))
    yield engine
    engine.dispose()


def scalar(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def setup_program(rpc):
    org_id = rpc.identity.create_organization({"name": f"Org {uuid.uuid4().hex[:6]}",
                                               "default_invitation_message": "Learn with us"})["id"]
    contract = rpc.programs.create_contract(org_id, {"name": "Year 1", "license_count": 100,
                                                     "starts_on": str(TODAY - timedelta(days=1)),
                                                     "ends_on": str(TODAY + timedelta(days=30))})
    program = rpc.programs.create_program(org_id, {"name": "Academy", "contract_ids": [contract["id"]]})
    return org_id, program, contract


def csv_b64(rows: int, tag: str) -> str:
    lines = ["Full Name,Email,External ID"] + [f"Person {i},p{i}-{tag}@ex.com,{tag}-{i}" for i in range(rows)]
    return base64.b64encode("\r\n".join(lines).encode()).decode()


def wait_import(rpc, org_id, import_id, timeout=60):
    with eventlet.Timeout(timeout):
        while True:
            job = rpc.invitations.get_import(org_id, import_id)
            if job["status"] in ("COMPLETED", "FAILED"):
                return job
            eventlet.sleep(0.2)


def test_concurrent_creates_of_one_email_give_one_invitation(rpc, rabbit_config, inv_db):
    org_id, program, contract = setup_program(rpc)
    data = {"program_id": program["id"], "contract_id": contract["id"], "full_name": "Ann", "send_email": True}

    def create(i):
        email = " ANN@ex.com" if i % 2 else "ann@ex.com"
        with ClusterRpcProxy(rabbit_config, timeout=60) as own:  # one connection per concurrent caller
            try:
                return own.invitations.create_invitation(org_id, {**data, "email": email})
            except AppError as exc:
                return exc.code

    results = list(eventlet.GreenPool(8).imap(create, range(8)))
    created = [r for r in results if isinstance(r, dict)]
    assert len(created) == 1 and set(r for r in results if isinstance(r, str)) == {"DUPLICATE_INVITATION"}
    assert scalar(inv_db, "SELECT count(*) FROM invitations WHERE program_id = :p", p=program["id"]) == 1
    event = scalar(inv_db, "SELECT envelope->'payload' FROM kit_outbox WHERE event_type = "
                           "'invitations.invitation.created.v1' AND envelope->'payload'->>'program_id' = :p",
                   p=program["id"])
    assert event["custom_message"] == "Learn with us" and "token=" in event["accept_url"]
    raw = event["accept_url"].split("token=")[1]
    assert scalar(inv_db, "SELECT token_hash FROM invitations WHERE program_id = :p", p=program["id"]) != raw


def test_a_contract_of_another_program_is_refused_by_programs(rpc):
    org_id, program, contract = setup_program(rpc)
    other = rpc.programs.create_contract(org_id, {"name": "Other", "license_count": 5,
                                                  "starts_on": str(TODAY), "ends_on": str(TODAY + timedelta(days=9))})
    data = {"program_id": program["id"], "contract_id": other["id"], "full_name": "Ann", "email": "ann@ex.com"}
    content = base64.b64encode(b"Full Name,Email,External ID\nAnn,ann@ex.com,\n").decode()
    for call in (lambda: rpc.invitations.create_invitation(org_id, data),
                 lambda: rpc.invitations.preview_invitation(org_id, data),
                 lambda: rpc.invitations.start_import(org_id, program["id"], other["id"], False, content, "p.csv")):
        with pytest.raises(AppError) as refused:
            call()
        assert refused.value.code == "INVALID_INPUT" and "contract_id" in refused.value.details
    assert rpc.programs.program_with_contract(org_id, program["id"], contract["id"])["id"] == program["id"]


def test_an_interrupted_import_resumes_where_it_stopped(rpc, inv_db):
    """A worker dies after its first batch committed: the next claim (after the
    lease) continues from there and no row is processed twice."""
    org_id, program, contract = setup_program(rpc)
    # hold the import worker off this job while we play the crashing worker ourselves
    job = None
    with unit_of_work("invitations") as uow:
        job = commands.start_import(uow, org_id, program, contract["id"], False, None, None, "p.csv",
                                    base64.b64decode(csv_b64(250, "r")))
        job.lease_until = now() + timedelta(minutes=5)
        job.status = "RUNNING"
        job.lease_owner = owner = str(uuid.uuid4())
    calls = []

    def ensure_people_then_crash(org, people):
        if calls:
            raise RuntimeError("the process died")
        calls.append(len(people))
        return rpc.identity.ensure_people(org, people)

    with unit_of_work("invitations") as uow, pytest.raises(RuntimeError):
        importer.run_import(uow, job.id, owner, ensure_people_then_crash, batch_size=100)
    assert scalar(inv_db, "SELECT processed_rows FROM import_jobs WHERE id = :i", i=job.id) == 100
    assert scalar(inv_db, "SELECT count(*) FROM invitations WHERE import_id = :i", i=job.id) == 100

    with inv_db.begin() as conn:  # the lease runs out
        conn.execute(text("UPDATE import_jobs SET lease_until = now() - interval '1 second' WHERE id = :i"),
                     {"i": job.id})
    done = wait_import(rpc, org_id, job.id)
    assert (done["status"], done["processed_rows"], done["created"], done["duplicates"]) == ("COMPLETED", 250, 250, 0)
    assert scalar(inv_db, "SELECT count(DISTINCT import_row) FROM invitations WHERE import_id = :i", i=job.id) == 250
    assert scalar(inv_db, "SELECT count(*) FROM kit_outbox WHERE event_type = 'invitations.import.completed.v1' "
                          "AND envelope->'payload'->>'import_id' = :i", i=job.id) == 1

    again = rpc.invitations.start_import(org_id, program["id"], contract["id"], False, csv_b64(250, "r"), "p.csv")
    second = wait_import(rpc, org_id, again["import_id"])
    assert (second["created"], second["duplicates"], second["invalid"]) == (0, 250, 0)


def test_an_external_id_identity_refuses_rejects_only_that_row(rpc):
    org_id, program, contract = setup_program(rpc)
    rpc.identity.ensure_person(org_id, {"email": "holder@ex.com", "full_name": "Holder", "external_id": "TAKEN"})
    content = "Full Name,Email,External ID\nAnn,ann@ex.com,A1\nBob,bob@ex.com,TAKEN\nCy,cy@ex.com,\n"
    job = rpc.invitations.start_import(org_id, program["id"], contract["id"], False,
                                       base64.b64encode(content.encode()).decode(), "p.csv")
    done = wait_import(rpc, org_id, job["import_id"])
    assert (done["created"], done["invalid"]) == (2, 1)
    rejected = rpc.invitations.rejected_csv(org_id, job["import_id"])
    assert "bob@ex.com" in rejected and "external id" in rejected


def test_expiry_with_several_replicas_expires_each_invitation_once(service_databases, inv_db):
    program_id, org_id = str(uuid.uuid4()), str(uuid.uuid4())
    with inv_db.begin() as conn:
        conn.execute(text(
            "INSERT INTO invitations (id, org_id, program_id, contract_id, user_id, email, full_name, state, "
            "token_hash, send_email, expires_at, send_count) "
            "SELECT gen_random_uuid(), :o, :p, gen_random_uuid(), gen_random_uuid(), 'e' || i || '@ex.com', 'E', "
            "'PENDING', md5(random()::text || i), false, now() - interval '1 minute', 0 "
            "FROM generate_series(1, 1300) AS i"), {"o": org_id, "p": program_id})

    def replica(_):
        total = 0
        while True:
            with unit_of_work("invitations") as uow:
                count = commands.expire_due(uow, limit=100)
                eventlet.sleep(0.05)  # hold the batch's row locks: the other replicas must skip past them
            total += count
            if count == 0:
                return total

    totals = list(eventlet.GreenPool(4).imap(replica, range(4)))
    assert sum(totals) == 1300 and sum(1 for t in totals if t) >= 2  # shared out, none twice
    assert scalar(inv_db, "SELECT count(*) FROM invitations WHERE program_id = :p AND state = 'EXPIRED'",
                  p=program_id) == 1300
    assert scalar(inv_db, "SELECT count(*) FROM kit_outbox WHERE event_type = 'invitations.invitation.expired.v1' "
                          "AND envelope->'payload'->>'program_id' = :p", p=program_id) == 1300


def test_identity_fills_only_empty_profile_fields_when_invitations_asks(rpc):
    """The flag invitations sends (issue 11, item 8); identity's other callers keep their behaviour."""
    org_id, _, _ = setup_program(rpc)
    email = f"{uuid.uuid4().hex[:8]}@ex.com"
    rpc.identity.ensure_person(org_id, {"email": email, "full_name": "Pat", "external_id": "HR-1"})
    kept = rpc.identity.ensure_person(org_id, {"email": email, "full_name": "Pat", "external_id": "HACKED",
                                               "job_title": "Analyst"}, only_fill_empty=True)
    assert (kept["external_id"], kept["job_title"]) == ("HR-1", "Analyst")
    [again] = rpc.identity.ensure_people(org_id, [{"email": email, "full_name": "Pat", "job_title": "CEO",
                                                   "external_id": "HACKED-2"}], only_fill_empty=True)
    assert (again["external_id"], again["job_title"]) == ("HR-1", "Analyst")
