"""Batch projections in one statement each (accounts, people): last given wins, redelivery changes nothing."""
import uuid

from sqlalchemy import text

from servicekit.standalone import unit_of_work
from services.reporting import handlers


def test_people_and_accounts_batches(service_databases):
    org, ann, bob = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    people = [{"user_id": ann, "email": "ann@x.example", "full_name": "Ann", "job_title": "Engineer"},
              {"user_id": bob, "email": "bob@x.example", "full_name": "Bob", "location_city": "Lyon"},
              {"user_id": ann, "email": "ann@x.example", "full_name": "Ann Lee", "job_title": "Lead"}]
    for _ in range(2):  # delivered twice
        with unit_of_work("reporting") as uow:
            handlers.on_profiles_updated(uow, org, people)
            handlers.on_users_registered(uow, [{"user_id": ann, "email": "ann@x.example", "full_name": "A"},
                                               {"user_id": ann, "email": "ann@x.example", "full_name": "Ann L"}])
    with unit_of_work("reporting") as uow:
        rows = uow.session.execute(text(
            "SELECT user_id::text, full_name, job_title, location_city FROM people WHERE org_id = :o ORDER BY 2"),
            {"o": org}).all()
        account = uow.session.execute(text("SELECT full_name FROM accounts WHERE user_id = :u"), {"u": ann}).scalar()
    assert rows == [(ann, "Ann Lee", "Lead", None), (bob, "Bob", None, "Lyon")] and account == "Ann L"


def test_collections_reporting_never_saw_an_event_of_are_asked_once():
    from services.reporting.commands import catalog

    org, program, kept, gone = (str(uuid.uuid4()) for _ in range(4))
    with unit_of_work("reporting") as uow:
        for collection in (kept, gone, kept):
            uow.session.execute(text(
                "INSERT INTO enrollments (enrollment_id, org_id, program_id, user_id, kind, course_id, "
                "collection_id, enrolled_at) VALUES (:e, :o, :p, :u, 'COURSE', 'c', :c, now())"),
                {"e": str(uuid.uuid4()), "o": org, "p": program, "u": str(uuid.uuid4()), "c": collection})
    asked = []

    def programs_answer(ids):
        asked.append(sorted(ids))
        return [{"id": kept, "org_id": org, "program_id": program, "name": "Old favourites"}]

    with unit_of_work("reporting") as uow:
        assert catalog.backfill_collections(uow, programs_answer) == 1
    with unit_of_work("reporting") as uow:
        assert catalog.backfill_collections(uow, programs_answer) == 0  # nothing left to ask
        names = dict(uow.session.execute(text(
            "SELECT collection_id::text, name FROM collections WHERE collection_id IN (:a, :b)"),
            {"a": kept, "b": gone}).all())
    assert asked == [sorted([kept, gone])] and names == {kept: "Old favourites", gone: ""}
